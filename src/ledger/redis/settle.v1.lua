-- settle v1: payload {id, row[6]}. Ends the reservation and adds the actual amounts as usage at the server's now on
-- every scope it held. Reply 1, or 0 (nothing changed) when the id is unknown, already ended, or its lease expired.
local existed, valid, scopes = endReservation(P.id)
if not (existed and valid) then return 0 end
if isZeroRow(P.row) then return 1 end
for _, scope in ipairs(scopes) do addUsage(scope, NOW, P.row) end
return 1
