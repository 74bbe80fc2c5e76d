-- mark v3 (a move, first step, in the group a budget moves to): ARGV[4] the budget, ARGV[5] the group it moves from,
-- ARGV[6] its scopes there. Each answers no check here until its usage has arrived (adopt clears the mark).
for _, scope in ipairs(linesOf(ARGV[6])) do redis.call('HSET', stateKey(scope), 'i', ARGV[5]) end
return 1
