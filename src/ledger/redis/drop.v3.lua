-- drop v3 (a move, last step, in the group a budget left, once adopt succeeded): ARGV[4] the budget. Removes its usage
-- here; keeps each scope's holds (its reservations in flight end here) and the moved mark (a replica still routing
-- here is told where it went).
local entity = ARGV[4]
for _, scope in ipairs(redis.call('SMEMBERS', entityKey(entity))) do
  redis.call('HDEL', stateKey(scope), 'u', 'w')
  redis.call('DEL', lifeKey(scope))
  if not sessionIdle(scope) then
    for li = 1, LEVEL_COUNT do
      local first, last = epochsOf(li)
      for epoch = first, last do redis.call('DEL', usageKey(li, epoch, scope)) end
    end
  end
end
redis.call('DEL', NS .. 'mv:' .. entity)
return 1
