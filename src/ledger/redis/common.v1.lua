-- tollgate ledger v1, shared helpers: the loader puts this in front of each operation's body (one script per operation).
-- KEYS[1] = layout key "<ns>layout" (its hash tag routes the call; every key below carries the same tag).
-- ARGV[1] = key namespace "{tag}:v1:", ARGV[2] = layout signature, ARGV[3] = the operation's JSON payload.
-- Time is the Redis server's (TIME), never a replica's. Amounts are integers; metric columns are 0..5.
local NS = ARGV[1]
local LAYOUT = ARGV[2]
local P = cjson.decode(ARGV[3])
local METRIC_COUNT = 6
local GRACE_MS = 1000

local clock = redis.call('TIME')
local NOW = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

-- The layout (bucket levels) is fixed per namespace: the first writer stores it, every call compares.
local storedLayout = redis.call('GET', KEYS[1])
if not storedLayout then
  redis.call('SET', KEYS[1], LAYOUT)
elseif storedLayout ~= LAYOUT then
  return redis.error_reply('TOLLGATE_LAYOUT ledger layout mismatch: Redis holds ' .. storedLayout .. ', this replica uses ' .. LAYOUT)
end

local EPOCH_BUCKETS = tonumber(string.match(LAYOUT, '|e(%d+)|'))
local LEVELS = {}
for size, span, keep in string.gmatch(LAYOUT, '(%d+):(%d+):(%d+)') do
  LEVELS[#LEVELS + 1] = { tonumber(size), tonumber(span), tonumber(keep) }
end
local RETENTION_MS = LEVELS[#LEVELS][3]

local function fmt(n)
  return string.format('%d', n)
end

local function heldKey(scope) return NS .. 'h:' .. scope end
local function leaseKey(scope) return NS .. 'l:' .. scope end
local function reservationKey(id) return NS .. 'r:' .. id end
local function usageKey(level, epoch, scope) return NS .. 'u:' .. level .. ':' .. fmt(epoch) .. ':' .. scope end

local function rowCsv(row)
  local parts = {}
  for c = 1, METRIC_COUNT do parts[c] = fmt(row[c]) end
  return table.concat(parts, ',')
end

local function parseRow(csv)
  local row = {}
  for value in string.gmatch(csv, '[^,]+') do row[#row + 1] = tonumber(value) end
  return row
end

local function uniqueList(list)
  local seen, out = {}, {}
  for _, item in ipairs(list) do
    if not seen[item] then seen[item] = true; out[#out + 1] = item end
  end
  return out
end

-- Holds: per scope a hash (t<col> = held total, r:<id> = the reservation's amounts) and a sorted set of ids by lease
-- expiry; both expire together just after the last lease, so a scope nobody touches again leaves nothing behind.
local function dropHold(scope, id)
  local hk = heldKey(scope)
  redis.call('ZREM', leaseKey(scope), id)
  local csv = redis.call('HGET', hk, 'r:' .. id)
  if not csv then return end
  local row = parseRow(csv)
  for c = 1, METRIC_COUNT do
    if row[c] ~= 0 then redis.call('HINCRBY', hk, 't' .. (c - 1), -row[c]) end
  end
  redis.call('HDEL', hk, 'r:' .. id)
end

local function addHold(scope, id, csv, row, expiresAt)
  local hk, lk = heldKey(scope), leaseKey(scope)
  redis.call('HSET', hk, 'r:' .. id, csv)
  for c = 1, METRIC_COUNT do
    if row[c] ~= 0 then redis.call('HINCRBY', hk, 't' .. (c - 1), row[c]) end
  end
  redis.call('ZADD', lk, expiresAt, id)
  local last = redis.call('ZRANGE', lk, -1, -1, 'WITHSCORES')
  local untilMs = tonumber(last[2]) + GRACE_MS
  redis.call('PEXPIREAT', hk, untilMs)
  redis.call('PEXPIREAT', lk, untilMs)
end

local swept = {}
-- Drops every reservation of the scope whose lease has expired (expiry <= now), once per call.
local function sweep(scope)
  if swept[scope] then return end
  swept[scope] = true
  local expired = redis.call('ZRANGEBYSCORE', leaseKey(scope), '-inf', NOW)
  for _, id in ipairs(expired) do dropHold(scope, id) end
end

local function heldAmount(scope, col)
  return tonumber(redis.call('HGET', heldKey(scope), 't' .. col) or '0')
end

local function openCount(scope)
  return redis.call('ZCARD', leaseKey(scope))
end

-- Ends a reservation on every scope it holds; returns whether it existed and whether its lease was still valid.
local function endReservation(id)
  local rk = reservationKey(id)
  local fields = redis.call('HMGET', rk, 's', 'e')
  if not fields[1] then return false, false end
  local scopes = cjson.decode(fields[1])
  for _, scope in ipairs(scopes) do sweep(scope) end
  for _, scope in ipairs(scopes) do dropHold(scope, id) end
  redis.call('DEL', rk)
  return true, tonumber(fields[2]) > NOW, scopes
end

-- Usage: written at every level into bucket hashes of EPOCH_BUCKETS buckets (field = offset * 8 + col), each hash
-- expiring once its newest bucket is older than the level keeps.
local function addUsage(scope, at, row)
  for li = 1, #LEVELS do
    local size, keep = LEVELS[li][1], LEVELS[li][3]
    local bucket = math.floor(at / size)
    local epoch = math.floor(bucket / EPOCH_BUCKETS)
    local expireAt = (epoch + 1) * EPOCH_BUCKETS * size + keep
    if expireAt > NOW then
      local key = usageKey(li, epoch, scope)
      local base = (bucket - epoch * EPOCH_BUCKETS) * 8
      for c = 1, METRIC_COUNT do
        if row[c] ~= 0 then redis.call('HINCRBY', key, fmt(base + c - 1), row[c]) end
      end
      redis.call('PEXPIREAT', key, expireAt)
    end
  end
end

local function levelFor(windowMs)
  for li = 1, #LEVELS do
    local span = LEVELS[li][2]
    if span == 0 or windowMs <= span then return li end
  end
  return #LEVELS
end

-- Non-empty buckets of one metric inside the window, oldest first. A bucket counts while (bucket end + window) > now:
-- it may count up to one bucket longer than its exact usage would, never shorter (never admits early).
local function windowUsage(scope, col, windowMs)
  local li = levelFor(windowMs)
  local size = LEVELS[li][1]
  local first = math.floor((NOW - windowMs) / size)
  local last = math.floor(NOW / size)
  local buckets, values, total = {}, {}, 0
  local epoch = math.floor(first / EPOCH_BUCKETS)
  while epoch * EPOCH_BUCKETS <= last do
    local start = epoch * EPOCH_BUCKETS
    local lo, hi = math.max(first, start), math.min(last, start + EPOCH_BUCKETS - 1)
    local fields = {}
    for bucket = lo, hi do fields[#fields + 1] = fmt((bucket - start) * 8 + col) end
    local got = redis.call('HMGET', usageKey(li, epoch, scope), unpack(fields))
    for i = 1, #got do
      if got[i] then
        local value = tonumber(got[i])
        if value ~= 0 then
          buckets[#buckets + 1] = lo + i - 1
          values[#values + 1] = value
          total = total + value
        end
      end
    end
    epoch = epoch + 1
  end
  return total, buckets, values, size
end

-- Standing of one check {scope, col (-1 = concurrency), windowMs, limit}: used, reserved, resetMs (-1 = none),
-- plus the window's buckets for a retry computation.
local function standingOf(check)
  local scope, col, windowMs = check[1], check[2], check[3]
  if col < 0 then return openCount(scope), 0, -1 end
  local total, buckets, values, size = windowUsage(scope, col, windowMs)
  local reset = -1
  if #buckets > 0 then reset = (buckets[1] + 1) * size + windowMs - NOW end
  return total, heldAmount(scope, col), reset, buckets, values, size
end

-- Milliseconds until enough settled usage leaves the window for `amount` to fit next to what is held; -1 if waiting
-- alone cannot make it fit. Exact to the bucket and never early.
local function retryAfter(limit, reserved, amount, total, buckets, values, size, windowMs)
  local allowance = limit - reserved - amount
  if allowance < 0 or total <= allowance then return -1 end
  local rest = total
  for i = 1, #buckets do
    rest = rest - values[i]
    if rest <= allowance then return (buckets[i] + 1) * size + windowMs - NOW end
  end
  return -1
end

-- ---- operation body follows ----
