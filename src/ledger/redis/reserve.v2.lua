-- reserve v2: payload {id, scopes, row[6], checks[[scope, col, windowMs, limit, ...]], leaseMs, deadline?}.
-- Reply {admitted 0/1, blocked check index (1-based, 0 = none), retryAfterMs (-1 = none), now, then used, reserved,
-- resetMs per check}: the standings without the new hold; `now` (the server's time) lets the replica set deadlines.
-- `deadline` (server ms): the replica stops waiting for the reply then. A reserve that runs later (Redis was stalled
-- and ran it on resuming) holds nothing: nobody would own its hold. One whose id already ended (tombstone) neither.
local id = P.id
if P.deadline and NOW > P.deadline then
  return redis.error_reply('TOLLGATE_LATE reserve ran ' .. fmt(NOW - P.deadline) .. ' ms after its deadline (server time ' .. fmt(NOW) .. '); nothing held')
end
if tombstoneOf(id) then
  return redis.error_reply('TOLLGATE_ENDED reservation id already released or settled; nothing held')
end
local rk = reservationKey(id)
local openUntil = redis.call('HGET', rk, 'e')
if openUntil then
  if tonumber(openUntil) > NOW then return redis.error_reply('TOLLGATE_DUPLICATE reservation id is already open') end
  endReservation(id)
end

local scopes = uniqueList(P.scopes)
for _, scope in ipairs(scopes) do sweep(scope) end
for _, check in ipairs(P.checks) do sweep(check[1]) end

local reply = { 1, 0, -1, NOW }
for index, check in ipairs(P.checks) do
  local col, limit = check[2], check[4]
  local used, reserved, reset = standingOf(check)
  if reply[2] == 0 then
    if col < 0 then
      if used + 1 > limit then reply[1] = 0; reply[2] = index end
    elseif used + reserved + P.row[col + 1] > limit then
      reply[1] = 0
      reply[2] = index
      reply[3] = retryAfter(check, reserved, P.row[col + 1], used)
    end
  end
  reply[#reply + 1] = used
  reply[#reply + 1] = reserved
  reply[#reply + 1] = reset
end
if reply[1] == 0 then return reply end

local expiresAt = NOW + P.leaseMs
local csv = rowCsv(P.row)
redis.call('HSET', rk, 's', cjson.encode(scopes), 'a', csv, 'e', fmt(expiresAt))
redis.call('PEXPIREAT', rk, expiresAt + GRACE_MS)
for _, scope in ipairs(scopes) do
  addHold(scope, id, csv, P.row, expiresAt)
  local idle = sessionIdle(scope)
  if idle then redis.call('PEXPIRE', lifeKey(scope), idle) end -- a reserve is activity: the session stays
end
return reply
