-- tollgate ledger v3, charges (library part, after common.v3.lua; settle and record): usage into the scope state and the bucket hashes.

-- A sum nobody read for UNREAD_MS is dropped (asked again, it is recounted).
local UNREAD_MS = 3600000

-- ---- Bucket hashes: usage at every level in hashes of EPOCH_BUCKETS buckets, each expiring as a whole once its
-- newest possible bucket is older than the level keeps. Fields: "<offset>" = one bucket's packed row, "b<k>" = the sum
-- of block k (BLOCK_BUCKETS buckets), "s" = the sum of the whole hash. The newest bucket of each level is held in the
-- scope's state instead (see below) and written here once a later bucket begins.
local function addPacked(packed, row)
  if not packed then return packRow(row) end
  local sum = unpackRow(packed)
  addInto(sum, row)
  return packRow(sum)
end

local function storeBucket(scope, li, bucket, row)
  local size, keep = LEVELS[li][1], LEVELS[li][3]
  local epoch = math.floor(bucket / EPOCH_BUCKETS)
  local expireAt = (epoch + 1) * EPOCH_BUCKETS * size + keep
  if expireAt <= NOW then return end -- older than the level keeps
  local key = usageKey(li, epoch, scope)
  local field = bucket - epoch * EPOCH_BUCKETS
  local block = 'b' .. math.floor(field / BLOCK_BUCKETS)
  local old = redis.call('HMGET', key, field, block, 's')
  redis.call('HSET', key, field, addPacked(old[1], row), block, addPacked(old[2], row), 's', addPacked(old[3], row))
  -- The expiry of a bucket hash depends only on its epoch: set it when the hash is new, not on every write.
  if not old[3] then redis.call('PEXPIREAT', key, expireAt) end
end

-- Adds a row to one bucket of a level: the newest (held in the state), or an older one (its bucket hash); a bucket
-- later than the newest becomes the newest, and the one it replaces goes to its hash.
local function addToBucket(st, li, bucket, row)
  local u = usageOf(st)
  local base = 7 * li -- u[base] = the level's newest bucket, u[base + c] its row
  if bucket == u[base] then
    u[base + 1], u[base + 2], u[base + 3] = u[base + 1] + row[1], u[base + 2] + row[2], u[base + 3] + row[3]
    u[base + 4], u[base + 5], u[base + 6] = u[base + 4] + row[4], u[base + 5] + row[5], u[base + 6] + row[6]
  elseif bucket > u[base] then
    if u[base] >= 0 then storeBucket(st.scope, li, u[base], { u[base + 1], u[base + 2], u[base + 3], u[base + 4], u[base + 5], u[base + 6] }) end
    u[base] = bucket
    for c = 1, 6 do u[base + c] = row[c] end
  else
    storeBucket(st.scope, li, bucket, row)
  end
  st.du = true
end

-- The bucket of `at` at each level, as addUsage last computed them (scratch space, reused).
local atBuckets = {}

-- Adds usage at `at` to the scope: lifetime totals, the newest bucket of each level (an older bucket goes to its hash),
-- every running sum whose window holds it.
local function addUsage(st, at, row)
  if st.idle then
    local life = sessionLife(st.scope) or zeroRow()
    addInto(life, row)
    lives[st.scope] = life
    redis.call('SET', lifeKey(st.scope), packRow(life), 'PX', st.idle)
    return
  end
  local u = usageOf(st)
  local r1, r2, r3, r4, r5, r6 = row[1], row[2], row[3], row[4], row[5], row[6]
  u[1], u[2], u[3], u[4], u[5], u[6] = u[1] + r1, u[2] + r2, u[3] + r3, u[4] + r4, u[5] + r5, u[6] + r6
  local buckets = atBuckets
  for li = 1, LEVEL_COUNT do
    local bucket, base = floor(at / SIZES[li]), 7 * li
    buckets[li] = bucket
    if bucket == u[base] then -- the newest bucket (the common case, inline)
      u[base + 1], u[base + 2], u[base + 3] = u[base + 1] + r1, u[base + 2] + r2, u[base + 3] + r3
      u[base + 4], u[base + 5], u[base + 6] = u[base + 4] + r4, u[base + 5] + r5, u[base + 6] + r6
    else
      addToBucket(st, li, bucket, row)
    end
  end
  st.du = true
  local w, drop = st.w, st.drop
  for i = 1, #w, 6 do
    local value = row[w[i + 2] + 1]
    if value ~= 0 and not (drop and drop[i]) then
      local li = w[i] == 1 and (levelOfWindow[w[i + 1]] or levelFor(w[i + 1])) or w[i + 4]
      local size, bucket = SIZES[li], buckets[li]
      if w[i] == 2 then
        if bucket >= math.floor(w[i + 1] / size) then w[i + 3] = w[i + 3] + value; st.dw = true end
      elseif w[i + 4] < 0 then
        if bucket >= firstBucket(w[i + 1], size) then w[i + 3], w[i + 4] = value, bucket; st.dw = true end
      elseif bucket >= w[i + 4] or bucket >= firstBucket(w[i + 1], size) then
        -- at or after its oldest bucket (the sum counts all of those until it is recounted), or inside the window
        w[i + 3] = w[i + 3] + value
        if bucket < w[i + 4] then w[i + 4] = bucket end
        st.dw = true
      end
    end
  end
end

-- Drops the sums nobody reads any more: a rolling one unread for UNREAD_MS, a period that has ended.
local function pruneSums(st)
  local w = st.w
  for i = 1, #w, 6 do
    if (w[i] == 1 and NOW - w[i + 5] > UNREAD_MS) or (w[i] == 2 and NOW >= w[i + 5]) then
      st.drop = st.drop or {}
      st.drop[i] = true
      st.dw = true
    end
  end
end


-- Usage of budgets that moved to another group is not added here: it is kept in this namespace's outbox ("out", a
-- hash) in the same atomic call, and the replica then applies it in the group it moved to (forward.v3.lua), once by
-- its id (`id`, or for usage without one a function making one); a move drains what a replica that died in between
-- left. Returns whether anything went to the outbox.
local function charge(id, scopes, at, row)
  local moved = nil
  for _, scope in ipairs(scopes) do
    local st = loadState(scope)
    if st.moved then
      moved = moved or {}
      moved[st.moved] = moved[st.moved] or {}
      table.insert(moved[st.moved], scope)
    else
      pruneSums(st)
      addUsage(st, at, row)
    end
  end
  local any = false
  for group, list in pairs(moved or {}) do
    if type(id) == 'function' then id = id() end
    redis.call('HSET', NS .. 'out', id .. '|' .. group, struct.pack('<d', at) .. packRow(row) .. group .. '\n' .. table.concat(list, '\n'))
    any = true
  end
  return any
end
