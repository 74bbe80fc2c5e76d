-- release v2: payload {id, keep}. Ends the reservation without usage. The id is remembered as released for `keep` ms
-- (unless it was settled), also when it is not open: a reserve of it that runs later (one whose outcome the replica never
-- learnt, run late by a stalled Redis) then holds nothing. Reply 1, or 0 when it was not open (unknown, ended, expired).
local existed, valid = endReservation(P.id)
if tombstoneOf(P.id) ~= 's' then entomb(P.id, 'r', P.keep) end
if existed and valid then return 1 end
return 0
