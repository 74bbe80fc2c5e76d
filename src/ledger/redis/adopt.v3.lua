-- adopt v3 (a move, in the group a budget moves to): ARGV[4] the budget, ARGV[5] the move id, then its usage as fence
-- returned it, flat: "S", scope, usage list, session lifetime | "B", scope, level, epoch, expire at, field count, fields
-- and values. Adds it to what this group holds for those scopes (usage charged here meanwhile is kept), drops their
-- running sums (counted again with it) and clears the marks. Once per move id: a move resumed after a crash adds
-- nothing twice. Reply 1, or 0 when this move was already adopted.
local entity, moveId = ARGV[4], ARGV[5]
local doneKey = NS .. 'adopted:' .. entity
if redis.call('GET', doneKey) == moveId then return 0 end
openReservations(nil)
local i = 6
while i <= #ARGV do
  local scope = ARGV[i + 1]
  if ARGV[i] == 'S' then
    local st = loadState(scope)
    if ARGV[i + 2] ~= '' then mergeUsage(st, unpackList(FMT_U, ARGV[i + 2])) end
    if ARGV[i + 3] ~= '' then
      local life = sessionLife(scope) or zeroRow()
      addInto(life, unpackRow(ARGV[i + 3]))
      lives[scope] = life
      redis.call('SET', lifeKey(scope), packRow(life), 'PX', sessionIdle(scope))
    end
    st.w, st.dw = {}, true
    redis.call('HDEL', stateKey(scope), 'i', 'm')
    redis.call('SADD', entityKey(entity), scope)
    i = i + 4
  else
    local key = usageKey(tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), scope)
    local fresh = redis.call('EXISTS', key) == 0
    local count = tonumber(ARGV[i + 5])
    for j = i + 6, i + 5 + 2 * count, 2 do
      redis.call('HSET', key, ARGV[j], addPacked(redis.call('HGET', key, ARGV[j]), unpackRow(ARGV[j + 1])))
    end
    if fresh then redis.call('PEXPIREAT', key, tonumber(ARGV[i + 4])) end
    i = i + 6 + 2 * count
  end
end
saveStates()
redis.call('SET', doneKey, moveId, 'PX', 86400000)
return 1
