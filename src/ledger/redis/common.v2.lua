-- tollgate ledger v2, shared helpers: the loader puts this in front of each operation's body (one script per operation).
-- KEYS[1] = layout key "<ns>layout" (its hash tag routes the call; every key below carries the same tag).
-- ARGV[1] = key namespace "{tag}:v2:", ARGV[2] = layout signature, ARGV[3] = the operation's JSON payload.
-- Time is the Redis server's (TIME), never a replica's. Amounts are integers; metric columns are 0..5.
local NS = ARGV[1]
local LAYOUT = ARGV[2]
local P = cjson.decode(ARGV[3])
local METRIC_COUNT = 6
local GRACE_MS = 1000

local clock = redis.call('TIME')
local NOW = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

-- The layout (bucket levels) is fixed per namespace: the first writer stores it, every call compares. A missing layout
-- means this Redis holds no ledger yet (first start, or data lost): "born" records when this ledger life began, so a
-- re-seed from history counts only what happened before it.
local storedLayout = redis.call('GET', KEYS[1])
if not storedLayout then
  redis.call('SET', KEYS[1], LAYOUT)
  redis.call('SET', NS .. 'born', NOW)
elseif storedLayout ~= LAYOUT then
  return redis.error_reply('TOLLGATE_LAYOUT ledger layout mismatch: Redis holds ' .. storedLayout .. ', this replica uses ' .. LAYOUT)
end

local EPOCH_BUCKETS = tonumber(string.match(LAYOUT, '|e(%d+)%.'))
local BLOCK_BUCKETS = tonumber(string.match(LAYOUT, '|e%d+%.(%d+)|'))
local BLOCKS = EPOCH_BUCKETS / BLOCK_BUCKETS
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
local function tombstoneKey(id) return NS .. 't:' .. id end

-- v2: an ended reservation id is remembered for `keep` ms as a tombstone, "s" (settled) or "r" (released), so every
-- operation on an id is idempotent: a settle retried after its reply was lost counts nothing again, and a reserve that
-- runs after its release (its reply was lost, the replica gave it up and released it by id) holds nothing.
local function tombstoneOf(id)
  return redis.call('GET', tombstoneKey(id))
end

local function entomb(id, how, keep)
  redis.call('SET', tombstoneKey(id), how, 'PX', keep)
end
local function usageKey(level, epoch, scope) return NS .. 'u:' .. level .. ':' .. fmt(epoch) .. ':' .. scope end
-- Lifetime totals of a scope ("a,b,c,d,e,f"): everything ever charged, past the retention. A session scope
-- ("session:<idle ms>:...") keeps only these, and they expire once it has been idle (no reserve, no charge) that long.
local function lifeKey(scope) return NS .. 'life:' .. scope end
local function sessionIdle(scope)
  local idle = string.match(scope, '^session:(%d+):')
  if idle then return tonumber(idle) end
  return nil
end

local function rowCsv(row)
  return string.format('%d,%d,%d,%d,%d,%d', row[1], row[2], row[3], row[4], row[5], row[6])
end

local function parseRow(csv)
  local row = {}
  for value in string.gmatch(csv, '[^,]+') do row[#row + 1] = tonumber(value) end
  return row
end

-- Pattern capturing column c (0-based) of a packed row.
local COLUMN_PATTERNS = {}
for c = 0, METRIC_COUNT - 1 do COLUMN_PATTERNS[c] = '^' .. string.rep('[^,]*,', c) .. '([^,]*)' end

local function uniqueList(list)
  local seen, out = {}, {}
  for _, item in ipairs(list) do
    if not seen[item] then seen[item] = true; out[#out + 1] = item end
  end
  return out
end

local function isZeroRow(row)
  for c = 1, METRIC_COUNT do
    if row[c] ~= 0 then return false end
  end
  return true
end

-- Holds: per scope a hash (t = held totals "a,b,c,d,e,f", r:<id> = each reservation's amounts) and a sorted set of ids
-- by lease expiry; both expire together just after the last lease, so a scope nobody touches again leaves nothing.
local function dropHold(scope, id)
  local hk = heldKey(scope)
  redis.call('ZREM', leaseKey(scope), id)
  local got = redis.call('HMGET', hk, 'r:' .. id, 't')
  if not got[1] then return end
  local row, totals = parseRow(got[1]), parseRow(got[2] or '0,0,0,0,0,0')
  for c = 1, METRIC_COUNT do totals[c] = totals[c] - row[c] end
  redis.call('HSET', hk, 't', rowCsv(totals))
  redis.call('HDEL', hk, 'r:' .. id)
end

local function addHold(scope, id, csv, row, expiresAt)
  local hk, lk = heldKey(scope), leaseKey(scope)
  local totals = parseRow(redis.call('HGET', hk, 't') or '0,0,0,0,0,0')
  for c = 1, METRIC_COUNT do totals[c] = totals[c] + row[c] end
  redis.call('HSET', hk, 'r:' .. id, csv, 't', rowCsv(totals))
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
  local totals = redis.call('HGET', heldKey(scope), 't')
  if not totals then return 0 end
  return tonumber(string.match(totals, COLUMN_PATTERNS[col]))
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

-- Usage: written at every level into bucket hashes of EPOCH_BUCKETS buckets, each hash expiring as a whole once its
-- newest possible bucket is older than the level keeps. Fields: "<offset>" = one bucket's six metric totals "a,b,c,d,e,f",
-- "b<k>" = the sum of block k (BLOCK_BUCKETS buckets), "s" = the sum of the whole hash.
local function addPacked(packed, row)
  if not packed then return rowCsv(row) end
  local sum = parseRow(packed)
  for c = 1, METRIC_COUNT do sum[c] = (sum[c] or 0) + row[c] end
  return rowCsv(sum)
end

local function addUsage(scope, at, row)
  local lk = lifeKey(scope)
  local idle = sessionIdle(scope)
  redis.call('SET', lk, addPacked(redis.call('GET', lk) or false, row))
  if idle then
    redis.call('PEXPIRE', lk, idle)
    return
  end
  for li = 1, #LEVELS do
    local size, keep = LEVELS[li][1], LEVELS[li][3]
    local bucket = math.floor(at / size)
    local epoch = math.floor(bucket / EPOCH_BUCKETS)
    local expireAt = (epoch + 1) * EPOCH_BUCKETS * size + keep
    if expireAt > NOW then
      local key = usageKey(li, epoch, scope)
      local field = bucket - epoch * EPOCH_BUCKETS
      local block = 'b' .. math.floor(field / BLOCK_BUCKETS)
      local old = redis.call('HMGET', key, field, block, 's')
      redis.call('HSET', key, field, addPacked(old[1], row), block, addPacked(old[2], row), 's', addPacked(old[3], row))
      -- The expiry of a bucket hash depends only on its epoch: set it when the hash is new, not on every write.
      if not old[3] then redis.call('PEXPIREAT', key, expireAt) end
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

local function valueOf(packed, pattern)
  if not packed then return 0 end
  return tonumber(string.match(packed, pattern))
end

-- Replies shared by the checks of one call (several limits often read the same scope, level and window start).
local fetched = {}
local function fetchFields(memo, key, fields)
  local got = fetched[memo]
  if not got then
    got = redis.call('HMGET', key, unpack(fields))
    fetched[memo] = got
  end
  return got
end

local function windowBounds(windowMs)
  local li = levelFor(windowMs)
  local size = LEVELS[li][1]
  -- A bucket counts while (bucket end + window) > now: up to one bucket longer than its exact usage would, never shorter.
  return li, size, math.floor((NOW - windowMs) / size), math.floor(NOW / size)
end

-- Oldest non-empty bucket of a hash at or after a block-aligned offset: block sums first, then one block's buckets.
local function oldestInHash(key, start, fromOffset, pattern)
  local firstBlock = fromOffset / BLOCK_BUCKETS
  local names = {}
  for block = firstBlock, BLOCKS - 1 do names[#names + 1] = 'b' .. block end
  local sums = fetchFields(key .. '|blocks' .. firstBlock, key, names)
  for i = 1, #sums do
    if valueOf(sums[i], pattern) ~= 0 then
      local lo = (firstBlock + i - 1) * BLOCK_BUCKETS
      local fields = {}
      for offset = lo, lo + BLOCK_BUCKETS - 1 do fields[#fields + 1] = offset end
      local values = fetchFields(key .. '|block' .. lo, key, fields)
      for j = 1, #values do
        if valueOf(values[j], pattern) ~= 0 then return start + lo + j - 1 end
      end
    end
  end
  return nil
end

-- Sum of one metric inside the window and its oldest non-empty bucket. No bucket is ever later than now, so every hash
-- but the oldest is covered whole and read by its sum; the oldest is read as its partial block's buckets plus the sums
-- of its later blocks. A check reads at most BLOCK_BUCKETS - 1 buckets and BLOCKS block sums, plus one sum per hash.
local function windowTotal(scope, col, windowMs)
  local li, size, first, last = windowBounds(windowMs)
  local pattern = COLUMN_PATTERNS[col]
  local total, oldest = 0, nil
  for epoch = math.floor(first / EPOCH_BUCKETS), math.floor(last / EPOCH_BUCKETS) do
    local start = epoch * EPOCH_BUCKETS
    local key = usageKey(li, epoch, scope)
    if start < first then
      local lo = first - start
      local nextBlock = math.ceil(lo / BLOCK_BUCKETS)
      local fields = {}
      for offset = lo, nextBlock * BLOCK_BUCKETS - 1 do fields[#fields + 1] = offset end
      local partial = #fields
      for block = nextBlock, BLOCKS - 1 do fields[#fields + 1] = 'b' .. block end
      if #fields > 0 then
        local got = fetchFields(key .. '|from' .. lo, key, fields)
        local oldestBlock = nil
        for i = 1, #got do
          local value = valueOf(got[i], pattern)
          if value ~= 0 then
            total = total + value
            if i <= partial then
              if oldest == nil then oldest = start + lo + i - 1 end
            elseif oldestBlock == nil then
              oldestBlock = nextBlock + i - partial - 1
            end
          end
        end
        if oldest == nil and oldestBlock then oldest = oldestInHash(key, start, oldestBlock * BLOCK_BUCKETS, pattern) end
      end
    else
      local value = valueOf(fetchFields(key .. '|sum', key, { 's' })[1], pattern)
      if value ~= 0 then
        total = total + value
        if oldest == nil then oldest = oldestInHash(key, start, 0, pattern) end
      end
    end
  end
  return total, oldest, size
end

-- Adds one metric's non-empty buckets of a hash within [first, last] to `found` (bucket -> value).
local function collectBuckets(key, start, first, last, pattern, found)
  local flat = redis.call('HGETALL', key)
  for i = 1, #flat, 2 do
    local offset = tonumber(flat[i])
    if offset then
      local bucket = start + offset
      if bucket >= first and bucket <= last then
        local value = valueOf(flat[i + 1], pattern)
        if value ~= 0 then found[bucket] = value end
      end
    end
  end
end

-- Every non-empty bucket of one metric inside the window, oldest first (for Retry-After, on the blocked path only).
local function windowBuckets(scope, col, windowMs)
  local li, size, first, last = windowBounds(windowMs)
  local found = {}
  for epoch = math.floor(first / EPOCH_BUCKETS), math.floor(last / EPOCH_BUCKETS) do
    collectBuckets(usageKey(li, epoch, scope), epoch * EPOCH_BUCKETS, first, last, COLUMN_PATTERNS[col], found)
  end
  local buckets = {}
  for bucket in pairs(found) do buckets[#buckets + 1] = bucket end
  table.sort(buckets)
  return buckets, found, size
end

-- A calendar check's window reaches back to its start (at least 1 ms); its reset is its end.
local function calendarWindow(check)
  return math.max(1, NOW - check[6])
end

-- Standing of one check {scope, col (-1 = concurrency), windowMs, limit[, kind 1 since until | kind 2]}: used, reserved,
-- resetMs (-1 = none). Kind 1: a calendar window from `since`, reset at `until`; kind 2 (or a session scope): lifetime.
local function standingOf(check)
  local scope, col, windowMs = check[1], check[2], check[3]
  if col < 0 then return openCount(scope), 0, -1 end
  if check[5] == 2 or sessionIdle(scope) then
    return valueOf(redis.call('GET', lifeKey(scope)), COLUMN_PATTERNS[col]), heldAmount(scope, col), -1
  end
  if check[5] == 1 then
    local total = windowTotal(scope, col, calendarWindow(check))
    return total, heldAmount(scope, col), math.max(0, check[7] - NOW)
  end
  local total, oldest, size = windowTotal(scope, col, windowMs)
  local reset = -1
  if oldest then reset = (oldest + 1) * size + windowMs - NOW end
  return total, heldAmount(scope, col), reset
end

-- Milliseconds until enough settled usage leaves the window for `amount` to fit next to what is held; -1 if waiting
-- alone cannot make it fit. Exact to the bucket and never early.
local function retryAfter(check, reserved, amount, total)
  local scope, col, windowMs, limit = check[1], check[2], check[3], check[4]
  local allowance = limit - reserved - amount
  if allowance < 0 or total <= allowance or check[5] == 2 or sessionIdle(scope) then return -1 end
  if check[5] == 1 then return math.max(1, check[7] - NOW) end
  local buckets, values, size = windowBuckets(scope, col, windowMs)
  local rest = total
  for i = 1, #buckets do
    rest = rest - values[buckets[i]]
    if rest <= allowance then return (buckets[i] + 1) * size + windowMs - NOW end
  end
  return -1
end

-- ---- operation body follows ----
