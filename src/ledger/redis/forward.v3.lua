-- forward v3 (in the group a budget moved to): ARGV[4] the outbox entry's id, ARGV[5] numbers {at, row[6], keep},
-- ARGV[6] its scopes. Adds usage counted in the group the budget left, once by id (remembered for `keep` ms).
-- Reply 1, 2 when part of it went on to this group's outbox (moved again), 0 when this id was already forwarded.
local numbers = numbersOf(ARGV[5])
if not redis.call('SET', NS .. 'f:' .. ARGV[4], '1', 'NX', 'PX', numbers[8]) then return 0 end
openReservations(nil)
local forwarded = charge(ARGV[4], linesOf(ARGV[6]), math.min(numbers[1], NOW), { numbers[2], numbers[3], numbers[4], numbers[5], numbers[6], numbers[7] })
saveStates()
if forwarded then return 2 end
return 1
