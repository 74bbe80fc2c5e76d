-- release v1: payload {id}. Ends the reservation without usage. Reply 1, or 0 when unknown, ended or expired.
local existed, valid = endReservation(P.id)
if existed and valid then return 1 end
return 0
