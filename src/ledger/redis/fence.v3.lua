-- fence v3 (a move, in the group a budget leaves): ARGV[4] the budget, ARGV[5] the group it moves to, ARGV[6] a move id.
-- Marks each of its scopes as moved (checks here are refused from now on; usage a settle or record adds goes to the
-- outbox for the new group) and returns its usage, nothing removed yet (drop does, after adopt): {move id (the first
-- one, if this move was begun before), {"S", scope, usage list or "", session lifetime or ""}, {"B", scope, level,
-- epoch, expire at, field, value, ...} per bucket hash}. Its holds stay: its reservations in flight end here.
local entity, target = ARGV[4], ARGV[5]
local moveKey = NS .. 'mv:' .. entity
local moveId = redis.call('GET', moveKey)
if not moveId then
  moveId = ARGV[6]
  redis.call('SET', moveKey, moveId)
end
local out = { moveId }
for _, scope in ipairs(redis.call('SMEMBERS', entityKey(entity))) do
  local key = stateKey(scope)
  local idle = sessionIdle(scope)
  redis.call('HSET', key, 'm', target)
  if idle then redis.call('PEXPIRE', key, idle + 86400000) end
  local usage = redis.call('HGET', key, 'u')
  local life = idle and redis.call('GET', lifeKey(scope)) or false
  out[#out + 1] = { 'S', scope, usage or '', life or '' }
  if not idle then
    for li = 1, LEVEL_COUNT do
      local first, last, span, keep = epochsOf(li)
      for epoch = first, last do
        local flat = redis.call('HGETALL', usageKey(li, epoch, scope))
        if #flat > 0 then
          local item = { 'B', scope, li, epoch, (epoch + 1) * span + keep }
          for i = 1, #flat do item[#item + 1] = flat[i] end
          out[#out + 1] = item
        end
      end
    end
  end
end
return out
