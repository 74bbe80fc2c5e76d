-- reserve v3: ARGV[4] id, ARGV[5] numbers {leaseMs, deadline (-1 = none), scope count, row[6]}, ARGV[6] scopes: the
-- ones the reservation holds, then any other a check names, ARGV[7] the checks (7 numbers each, see checksOf).
-- Reply {admitted 0/1, blocked check index (1-based, 0 = none), retryAfterMs (-1 = none), now, then used, reserved,
-- resetMs per check}: the standings without the new hold; `now` (the server's time) lets the replica set deadlines.
-- `deadline` (server ms): the replica stops waiting for the reply then. A reserve that runs later (Redis was stalled
-- and ran it on resuming) holds nothing: nobody would own its hold. One whose id already ended (tombstone) neither.
readUsage = false -- the checks' running sums answer; a recount or a lifetime check reads it
local id = ARGV[4]
local numbers = numbersOf(ARGV[5])
local deadline = numbers[2]
if deadline >= 0 and NOW > deadline then
  return redis.error_reply('TOLLGATE_LATE reserve ran ' .. fmt(NOW - deadline) .. ' ms after its deadline (server time ' .. fmt(NOW) .. '); nothing held')
end
local names = linesOf(ARGV[6])
local row = { numbers[4], numbers[5], numbers[6], numbers[7], numbers[8], numbers[9] }
-- before anything is written: a budget moving between groups answers no check until it has arrived
for _, name in ipairs(names) do guard(loadState(name)) end
if redis.call('GET', tombstoneKey(id)) then
  return redis.error_reply('TOLLGATE_ENDED reservation id already released or settled; nothing held')
end
local existing = openReservations(id)
if existing then
  if struct.unpack('<d', existing) > NOW then return redis.error_reply('TOLLGATE_DUPLICATE reservation id is already open') end
  endReservation(id, existing)
end

local reply = { 1, 0, -1, NOW }
for index, check in ipairs(checksOf(ARGV[7], ARGV[6])) do
  local col, limit = check[2], check[4]
  local used, reserved, reset = standingOf(check)
  if reply[2] == 0 then
    if col < 0 then
      if used + 1 > limit then reply[1] = 0; reply[2] = index end
    elseif used + reserved + row[col + 1] > limit then
      reply[1] = 0
      reply[2] = index
      reply[3] = retryAfter(check, reserved, row[col + 1], used)
    end
  end
  reply[#reply + 1] = used
  reply[#reply + 1] = reserved
  reply[#reply + 1] = reset
end
if reply[1] == 1 then
  local scopes = names
  if numbers[3] < #names then
    scopes = {}
    for i = 1, numbers[3] do scopes[i] = names[i] end
  end
  holdReservation(id, row, string.sub(ARGV[5], 25, 72), scopes, NOW + numbers[1])
  for _, scope in ipairs(scopes) do
    local idle = states[scope].idle
    if idle then redis.call('PEXPIRE', lifeKey(scope), idle) end -- a reserve is activity: the session stays
  end
end
saveStates()
return reply
