-- settle v2: payload {id, row[6], keep, orRecord? [scopes, at]}. Ends the reservation and adds the actual amounts as
-- usage at the server's now on every scope it held. When it is not open (lease expired, reserve never ran, Redis lost
-- it) and orRecord is given, the amounts are recorded on those scopes at min(at, now) instead. Either way the id is
-- remembered as settled for `keep` ms, so a retry counts nothing and a late reserve holds nothing.
-- Reply 1 when this call counted the usage, 0 (nothing changed) when the id was already settled, or was not open and
-- no orRecord was given.
if tombstoneOf(P.id) == 's' then return 0 end
local existed, valid, scopes = endReservation(P.id)
local at = NOW
if not (existed and valid) then
  if not P.orRecord then return 0 end
  scopes = uniqueList(P.orRecord[1])
  at = math.min(P.orRecord[2], NOW)
end
entomb(P.id, 's', P.keep)
-- older than the retention: addUsage keeps it in the lifetime totals only
if isZeroRow(P.row) then return 1 end
for _, scope in ipairs(scopes) do addUsage(scope, at, P.row) end
return 1
