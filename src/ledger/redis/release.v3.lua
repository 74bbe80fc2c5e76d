-- release v3: ARGV[4] id, ARGV[5] numbers {keep}. Ends the reservation without usage. The id is remembered as released for `keep` ms
-- (unless it was settled), also when it is not open: a reserve of it that runs later (one whose outcome the replica never
-- learnt, run late by a stalled Redis) then holds nothing. Reply 1, or 0 when it was not open (unknown, ended, expired).
local id = ARGV[4]
local keep = numbersOf(ARGV[5])[1]
local existing = openReservations(id)
local valid = false
if existing then valid = endReservation(id, existing) end
local tombstone = tombstoneKey(id)
if existing or redis.call('GET', tombstone) ~= 's' then redis.call('SET', tombstone, 'r', 'PX', keep) end
saveStates()
if valid then return 1 end
return 0
