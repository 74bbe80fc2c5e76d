-- tollgate ledger v3, windows (library part, after common.v3.lua; reserve and standing): running window sums, standings, Retry-After.

-- Windows are answered from running sums kept in the scope's state, so a check reads no bucket in the steady state.
-- A rolling sum holds its window's usage exactly, with its oldest non-empty bucket: it stays exact while that bucket is
-- inside the window (a bucket counts while its end + window > now), and is recounted from the buckets once it leaves
-- (once per bucket of the window's level at most) or when the window is first asked for. A sum nobody read for
-- UNREAD_MS is dropped; asked again, it is recounted.
local SEEN_EVERY_MS = 60000

-- Checks packed in an argument (7 doubles each) naming scopes by their index in `scopesText` (one per line):
-- {scope, col, windowMs, limit, kind, since, until} each. A policy's checks repeat from call to call: the list is
-- shared, read only.
local function checksOf(packed, scopesText)
  local byScopes = memo.checks[packed]
  local checks = byScopes and byScopes[scopesText]
  if checks then return checks end
  local numbers, scopes = numbersOf(packed), linesOf(scopesText)
  checks = {}
  for i = 1, #numbers, 7 do
    checks[#checks + 1] = { scopes[numbers[i]], numbers[i + 1], numbers[i + 2], numbers[i + 3], numbers[i + 4], numbers[i + 5], numbers[i + 6] }
  end
  if not byScopes then byScopes = remember('checks', packed, {}) end
  byScopes[scopesText] = checks
  memoCount = memoCount + 1 -- each scope list's checks count toward MEMO_MAX too (a policy shared by many agents)
  return checks
end

-- Bucket hash fields read by the checks of one call (several limits often read the same hash and offsets).
local function fetchFields(memo, key, fields)
  local got = fetched[memo]
  if not got then
    got = redis.call('HMGET', key, unpack(fields))
    fetched[memo] = got
  end
  return got
end

-- Oldest non-empty bucket of a hash at or after a block-aligned offset: block sums first, then one block's buckets.
local function oldestInHash(key, start, fromOffset, col)
  local firstBlock = fromOffset / BLOCK_BUCKETS
  local names = {}
  for block = firstBlock, BLOCKS - 1 do names[#names + 1] = 'b' .. block end
  local sums = fetchFields(key .. '|blocks' .. firstBlock, key, names)
  for i = 1, #sums do
    if column(sums[i], col) ~= 0 then
      local lo = (firstBlock + i - 1) * BLOCK_BUCKETS
      local fields = {}
      for offset = lo, lo + BLOCK_BUCKETS - 1 do fields[#fields + 1] = offset end
      local values = fetchFields(key .. '|block' .. lo, key, fields)
      for j = 1, #values do
        if column(values[j], col) ~= 0 then return start + lo + j - 1 end
      end
    end
  end
  return nil
end

-- Sum of one metric in buckets [first, last] of a level and its oldest non-empty bucket: the bucket hashes (every hash
-- but the oldest is read by its sum; the oldest as its partial block's buckets plus its later block sums), then the
-- newest bucket the state holds.
local function countWindow(st, li, col, first, last)
  local total, oldest = 0, nil
  for epoch = math.floor(first / EPOCH_BUCKETS), math.floor(last / EPOCH_BUCKETS) do
    local start = epoch * EPOCH_BUCKETS
    local key = usageKey(li, epoch, st.scope)
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
          local value = column(got[i], col)
          if value ~= 0 then
            total = total + value
            if i <= partial then
              if oldest == nil then oldest = start + lo + i - 1 end
            elseif oldestBlock == nil then
              oldestBlock = nextBlock + i - partial - 1
            end
          end
        end
        if oldest == nil and oldestBlock then oldest = oldestInHash(key, start, oldestBlock * BLOCK_BUCKETS, col) end
      end
    else
      local value = column(fetchFields(key .. '|sum', key, { 's' })[1], col)
      if value ~= 0 then
        total = total + value
        if oldest == nil then oldest = oldestInHash(key, start, 0, col) end
      end
    end
  end
  local u = usageOf(st)
  local bucket, value = u[7 * li], u[7 * li + col + 1]
  if bucket >= first and bucket <= last and value ~= 0 then
    total = total + value
    if oldest == nil then oldest = bucket end
  end
  return total, oldest
end

-- Index in st.w of a running sum (kind 1 rolling by windowMs, kind 2 period by since), or nil.
local function findSum(st, kind, key, col)
  local w = st.w
  for i = 1, #w, 6 do
    if w[i] == kind and w[i + 1] == key and w[i + 2] == col and not (st.drop and st.drop[i]) then return i end
  end
  return nil
end

local function setSum(st, i, values)
  if not i then i = #st.w + 1 end
  for j = 1, 6 do st.w[i + j - 1] = values[j] end
  st.dw = true
end

-- A rolling window's usage of one metric, its oldest non-empty bucket (nil: none) and the bucket size.
local function rollingTotal(st, col, windowMs)
  local li = levelFor(windowMs)
  local size = SIZES[li]
  local first = floor((NOW - windowMs) / size)
  local w = st.w
  local i = nil
  if not st.drop then -- findSum, inline (the common case: no sum dropped in this call)
    for at = 1, #w, 6 do
      if w[at] == 1 and w[at + 1] == windowMs and w[at + 2] == col then
        i = at
        break
      end
    end
  else
    i = findSum(st, 1, windowMs, col)
  end
  if i then
    local oldest = w[i + 4]
    if oldest < 0 or oldest >= first then
      if NOW - w[i + 5] >= SEEN_EVERY_MS then w[i + 5] = NOW; st.dw = true end
      if oldest < 0 then return w[i + 3], nil, size end
      return w[i + 3], oldest, size
    end
  end
  local total, oldest = countWindow(st, li, col, first, math.floor(NOW / size))
  setSum(st, i, { 1, windowMs, col, total, oldest or -1, NOW })
  return total, oldest, size
end

-- A calendar period's usage of one metric: its buckets from `since` at the level its age calls for (recounted when
-- the period grows into a coarser level).
local function periodTotal(st, col, since, untilMs)
  local windowMs = math.max(1, NOW - since)
  local li = levelFor(windowMs)
  local size = LEVELS[li][1]
  if since >= NOW then return (countWindow(st, li, col, firstBucket(windowMs, size), math.floor(NOW / size))) end
  local i = findSum(st, 2, since, col)
  if i and st.w[i + 4] == li then return st.w[i + 3] end
  local total = countWindow(st, li, col, math.floor(since / size), math.floor(NOW / size))
  setSum(st, i, { 2, since, col, total, li, untilMs })
  return total
end

local function lifetimeOf(st, col)
  if st.idle then
    local life = sessionLife(st.scope)
    return life and life[col + 1] or 0
  end
  return usageOf(st)[col + 1]
end

-- Standing of one check {scope, col (-1 = concurrency), windowMs, limit[, kind 1 since until | kind 2]}: used, reserved,
-- resetMs (-1 = none). Kind 1: a calendar window from `since`, reset at `until`; kind 2 (or a session scope): lifetime.
local function standingOf(check)
  local st = loadState(check[1])
  local col, windowMs = check[2], check[3]
  if col < 0 then return st.h[7], 0, -1 end
  local reserved = st.h[col + 1]
  if check[5] == 2 or st.idle then return lifetimeOf(st, col), reserved, -1 end
  if check[5] == 1 then return periodTotal(st, col, check[6], check[7]), reserved, math.max(0, check[7] - NOW) end
  local total, oldest, size = rollingTotal(st, col, windowMs)
  local reset = -1
  if oldest then reset = (oldest + 1) * size + windowMs - NOW end
  return total, reserved, reset
end

-- Every non-empty bucket of one metric inside a rolling window, oldest first (for Retry-After, on the blocked path only).
local function windowBuckets(st, col, windowMs)
  local li = levelFor(windowMs)
  local size = LEVELS[li][1]
  local first, last = firstBucket(windowMs, size), math.floor(NOW / size)
  local found = {}
  for epoch = math.floor(first / EPOCH_BUCKETS), math.floor(last / EPOCH_BUCKETS) do
    local start = epoch * EPOCH_BUCKETS
    local flat = redis.call('HGETALL', usageKey(li, epoch, st.scope))
    for i = 1, #flat, 2 do
      local offset = tonumber(flat[i])
      if offset and start + offset >= first and start + offset <= last then
        local value = column(flat[i + 1], col)
        if value ~= 0 then found[start + offset] = value end
      end
    end
  end
  local u = usageOf(st)
  if u[7 * li] >= first and u[7 * li] <= last and u[7 * li + col + 1] ~= 0 then found[u[7 * li]] = u[7 * li + col + 1] end
  local buckets = {}
  for bucket in pairs(found) do buckets[#buckets + 1] = bucket end
  table.sort(buckets)
  return buckets, found, size
end

-- Milliseconds until enough settled usage leaves the window for `amount` to fit next to what is held; -1 if waiting
-- alone cannot make it fit. Exact to the bucket and never early.
local function retryAfter(check, reserved, amount, total)
  local st = loadState(check[1])
  local col, windowMs, limit = check[2], check[3], check[4]
  local allowance = limit - reserved - amount
  if allowance < 0 or total <= allowance or check[5] == 2 or st.idle then return -1 end
  if check[5] == 1 then return math.max(1, check[7] - NOW) end
  local buckets, values, size = windowBuckets(st, col, windowMs)
  local rest = total
  for i = 1, #buckets do
    rest = rest - values[buckets[i]]
    if rest <= allowance then return (buckets[i] + 1) * size + windowMs - NOW end
  end
  return -1
end
