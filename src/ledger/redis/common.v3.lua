-- tollgate ledger v3, shared helpers: the second file of the Redis function library scripts.ts builds (after
-- decode.v3.lua; then window.v3.lua, usage.v3.lua, move.v3.lua, and one registered function per operation, each body
-- from its own file). Everything here is created once, when the library is loaded; each call only sets the per-call
-- values (begin).
-- keys[1] = layout key "<ns>layout" (its hash tag routes the call; every key below carries the same tag).
-- args[1] = key namespace "{tag}:v3:", args[2] = layout signature, args[3] = the bucket levels packed (bucketMs,
-- spanMs, keepMs as little-endian doubles), then the operation's own arguments (see its body): ids and scopes as text
-- (scopes one per line), numbers packed as little-endian doubles, no JSON to decode on the request path.
-- Time is the Redis server's (TIME), never a replica's. Amounts are integers; metric columns are 0..5.
-- Rows of the six metrics are stored packed (struct '<dddddd': exact integers up to 2^53), which Lua reads and
-- writes several times faster than text.
local GRACE_MS = 1000
-- The lease keys' expiry is pushed this far past the newest lease, so most reserves need not push it again.
local LEASE_SLACK_MS = 60000
-- v3 keeps 112 buckets per hash and one sum per 16 (the signature names both; see layout.ts).
local EPOCH_BUCKETS = 112
local BLOCK_BUCKETS = 16
local BLOCKS = EPOCH_BUCKETS / BLOCK_BUCKETS
local ROW = '<dddddd'
local FMT_H = '<dddddddd'

-- Per call (set by begin): the call's keys and arguments, the namespace, the server's time, the bucket levels.
local KEYS, ARGV, NS, LAYOUT, NOW, LEVELS, LEVEL_COUNT, RETENTION_MS, FMT_U, RES, LEASE
-- The bucket size of each level (LEVELS[li][1]).
local SIZES
-- Per call: scope states read (scope -> state), the namespace's lease bookkeeping, sessions' lifetime totals read,
-- bucket hash fields read, whether a state's usage field is read with the rest (operations that add usage need it;
-- checks rarely do: reserve and standing read it when they do).
local states, meta, lives, fetched, readUsage

-- The bucket levels as last parsed, the argument they were parsed from (the same on nearly every call), and the
-- level serving each window asked for since (windowMs -> level; a period's window grows, so at most 1024 are kept).
local levelsArg, levelOfWindow, levelsKnown

-- Starts a call: its values, then the layout check. The layout (bucket levels) is fixed per namespace: the first
-- writer stores it, every call compares. A missing layout means this Redis holds no ledger yet (first start, or data
-- lost): "born" records when this ledger life began, so a re-seed from history counts only what happened before it.
-- Returns an error reply on a mismatch.
local function begin(keys, args)
  KEYS, ARGV, NS, LAYOUT = keys, args, args[1], args[2]
  if not floor then spack, sunpack, floor = struct.pack, struct.unpack, math.floor end
  local clock = redis.call('TIME')
  NOW = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  local storedLayout = redis.call('GET', keys[1])
  if not storedLayout then
    redis.call('SET', keys[1], LAYOUT)
    redis.call('SET', NS .. 'born', NOW)
  elseif storedLayout ~= LAYOUT then
    return redis.error_reply('TOLLGATE_LAYOUT ledger layout mismatch: Redis holds ' .. storedLayout .. ', this replica uses ' .. LAYOUT)
  end
  if args[3] ~= levelsArg then
    LEVELS, SIZES = {}, {}
    for pos = 1, #args[3], 24 do
      local size, span, keep = struct.unpack('<ddd', args[3], pos)
      LEVELS[#LEVELS + 1] = { size, span, keep }
      SIZES[#SIZES + 1] = size
    end
    LEVEL_COUNT = #LEVELS
    RETENTION_MS = LEVELS[LEVEL_COUNT][3]
    FMT_U = doubles(6 + 7 * LEVEL_COUNT)
    levelOfWindow, levelsKnown = {}, 0
    levelsArg = args[3]
  end
  if RES ~= NS .. 'res' then RES, LEASE = NS .. 'res', NS .. 'lease' end
  states, meta, lives, fetched, readUsage = {}, nil, {}, {}, true
  return nil
end

local function fmt(n)
  return string.format('%d', n)
end

local function zeroRow() return { 0, 0, 0, 0, 0, 0 } end

local function packRow(r)
  return struct.pack(ROW, r[1], r[2], r[3], r[4], r[5], r[6])
end

local function unpackRow(s, pos)
  local a, b, c, d, e, f = struct.unpack(ROW, s, pos or 1)
  return { a, b, c, d, e, f }
end

-- Column `col` (0-based) of a packed row; 0 for none.
local function column(packed, col)
  if not packed then return 0 end
  return (struct.unpack('<d', packed, col * 8 + 1))
end

local function addInto(target, row)
  for c = 1, 6 do target[c] = target[c] + row[c] end
end

local function isZeroRow(row)
  for c = 1, 6 do
    if row[c] ~= 0 then return false end
  end
  return true
end

local function uniqueList(list)
  local seen, out = {}, {}
  for _, item in ipairs(list) do
    if not seen[item] then seen[item] = true; out[#out + 1] = item end
  end
  return out
end

local function stateKey(scope) return NS .. 's:' .. scope end
local function tombstoneKey(id) return NS .. 't:' .. id end
local function usageKey(level, epoch, scope) return NS .. 'u:' .. level .. ':' .. fmt(epoch) .. ':' .. scope end
-- A session scope ("session:<idle ms>:...") keeps lifetime totals only, in their own key that expires once the session
-- has been idle (no reserve, no charge) that long.
local function lifeKey(scope) return NS .. 'life:' .. scope end
local function sessionIdle(scope)
  local first, second = string.byte(scope, 1, 2)
  if first ~= 115 or second ~= 101 then return nil end -- not "se...": no pattern to match
  local idle = string.match(scope, '^session:(%d+):')
  if idle then return tonumber(idle) end
  return nil
end

-- Whose budget a scope is (as budget-groups.ts entityOf): its agent or shared budget, which moves between groups whole.
local function entityOf(scope)
  local base = string.match(scope, '^(.-)|model:') or scope
  local agent = string.match(base, '^session:%d+:([^:]+):')
  if agent then return 'agent:' .. agent end
  return base
end

-- The scopes of a budget that have state in this namespace ("e:<entity>", a set): what a move carries.
local function entityKey(entity) return NS .. 'e:' .. entity end

-- Refuses a check against a scope moving in or moved out (before the call wrote anything): its usage is not all here.
local function guard(st)
  if st.incoming then error({ err = 'TOLLGATE_MOVING budget ' .. entityOf(st.scope) .. ' is moving into this group; try again' }) end
  if st.moved then error({ err = 'TOLLGATE_MOVED budget ' .. entityOf(st.scope) .. ' moved to group ' .. st.moved }) end
end

local function levelFor(windowMs)
  local level = levelOfWindow[windowMs]
  if level then return level end
  level = LEVEL_COUNT
  for li = 1, LEVEL_COUNT do
    local span = LEVELS[li][2]
    if span == 0 or windowMs <= span then
      level = li
      break
    end
  end
  if levelsKnown >= 1024 then levelOfWindow, levelsKnown = {}, 0 end
  levelOfWindow[windowMs] = level
  levelsKnown = levelsKnown + 1
  return level
end

local function firstBucket(windowMs, size)
  return floor((NOW - windowMs) / size)
end

-- A session's lifetime totals (a packed row in its own key), read once per call.
local function sessionLife(scope)
  local life = lives[scope]
  if life == nil then
    local packed = redis.call('GET', lifeKey(scope))
    life = packed and unpackRow(packed) or false
    lives[scope] = life
  end
  return life
end

-- ---- Scope state: one hash per scope ("s:<scope>"), read once per call and written back once if it changed, each
-- field a flat list of doubles packed in one struct call:
--   h = holds: held totals (6), open reservations, the latest lease expiry among them (8 doubles).
--   u = usage: lifetime totals (6), then per level its newest bucket and that bucket's row (7 each); decoded on demand.
--   w = running sums, 6 doubles each: 1, windowMs, col, sum, oldest bucket (-1 = none), last read (a rolling window);
--       2, since, col, sum, level, until (a calendar period).
-- A session scope's state holds only h and expires with the namespace's leases; every other scope's state is kept (it
-- holds lifetime totals).
local function zeroHolds() return { 0, 0, 0, 0, 0, 0, 0, 0 } end

local function loadState(scope)
  local st = states[scope]
  if st then return st end
  local key = stateKey(scope)
  -- m: the budget moved to that group (its usage goes there); i: it is moving in from that group (see move.v3.lua)
  local hraw, uraw, wraw, moved, incoming
  if readUsage then
    local got = redis.call('HMGET', key, 'h', 'u', 'w', 'm', 'i')
    hraw, uraw, wraw, moved, incoming = got[1], got[2], got[3], got[4], got[5]
  else
    local got = redis.call('HMGET', key, 'h', 'w', 'm', 'i')
    hraw, wraw, moved, incoming = got[1], got[2], got[3], got[4]
  end
  local h = hraw and takeDecoded(hraw, FMT_H) or zeroHolds()
  local dh = false
  -- every lease on the scope has ended (the namespace's leases expired unswept): nothing is held
  if h[7] > 0 and h[8] <= NOW then h, dh = zeroHolds(), true end
  -- every field a call may set, in one constructor (a table that grows past its first size is rebuilt); fresh: nothing
  -- stored yet (unsure without the usage field: its scope is then added to its budget's set again, which is harmless)
  st = {
    scope = scope, key = key, idle = sessionIdle(scope), moved = moved, incoming = incoming, fresh = not (hraw or uraw or wraw),
    hraw = hraw, uraw = uraw, wraw = wraw, unread = not readUsage,
    h = h, w = wraw and takeDecoded(wraw, doubles(#wraw / 8)) or {}, u = false, dh = dh, du = false, dw = false, drop = false,
  }
  states[scope] = st
  return st
end

-- The flat usage list of a state (decoded on first use).
local function usageOf(st)
  if not st.u then
    if st.unread then
      st.uraw = redis.call('HGET', st.key, 'u') or nil
      st.unread = false
    end
    if st.uraw then
      st.u = takeDecoded(st.uraw, FMT_U)
    else
      st.u = { 0, 0, 0, 0, 0, 0 }
      for li = 1, LEVEL_COUNT do
        st.u[#st.u + 1] = -1
        for _ = 1, 6 do st.u[#st.u + 1] = 0 end
      end
    end
  end
  return st.u
end

local function addHold(st, row, expiresAt)
  local h = st.h
  h[1], h[2], h[3], h[4], h[5], h[6] = h[1] + row[1], h[2] + row[2], h[3] + row[3], h[4] + row[4], h[5] + row[5], h[6] + row[6]
  h[7] = h[7] + 1
  if expiresAt > h[8] then h[8] = expiresAt end
  st.dh = true
end

local function dropHold(st, row)
  local h = st.h
  h[7] = h[7] - 1
  if h[7] <= 0 then
    st.h = zeroHolds()
  else
    h[1], h[2], h[3], h[4], h[5], h[6] = h[1] - row[1], h[2] - row[2], h[3] - row[3], h[4] - row[4], h[5] - row[5], h[6] - row[6]
  end
  st.dh = true
end

-- ---- Open reservations of the namespace: "res" hash, id -> expiry, packed row and scopes (one per line), and "lease",
-- a sorted set of the ids by lease expiry. Field "~" of "res" holds a lower bound of the earliest lease expiry and the
-- expiry set on both keys (pushed LEASE_SLACK_MS past the latest lease, so most reserves need not push it again).
local META_FIELD = '~'

local function decodeReservation(value)
  local expiresAt, a, b, c, d, e, f = sunpack('<ddddddd', value)
  return expiresAt, { a, b, c, d, e, f }, linesOf(string.sub(value, 57))
end

local function dropReservation(value)
  local expiresAt, row, scopes = decodeReservation(value)
  for _, scope in ipairs(scopes) do dropHold(loadState(scope), row) end
  return expiresAt, scopes
end

-- Drops every reservation whose lease has expired (expiry <= now): nothing to do while the earliest lease still runs.
local function sweep()
  if meta[1] > NOW or meta[1] == 0 then return end
  local expired = redis.call('ZRANGEBYSCORE', LEASE, '-inf', NOW)
  if #expired > 0 then
    local values = redis.call('HMGET', RES, unpack(expired))
    for _, value in ipairs(values) do
      if value then dropReservation(value) end
    end
    redis.call('HDEL', RES, unpack(expired))
    redis.call('ZREMRANGEBYSCORE', LEASE, '-inf', NOW)
  end
  local first = redis.call('ZRANGE', LEASE, 0, 0, 'WITHSCORES')
  meta[1] = first[2] and tonumber(first[2]) or 0
  meta.dirty = true
end

-- Reads the namespace's lease bookkeeping and sweeps expired leases (every operation does, first); with an id, returns
-- its open reservation's value (false: none).
local function openReservations(id)
  local got
  if id then got = redis.call('HMGET', RES, id, META_FIELD) else got = { false, redis.call('HGET', RES, META_FIELD) } end
  if got[2] then meta = { struct.unpack('<dd', got[2]) } else meta = { 0, 0 } end
  sweep()
  if got[1] and meta.dirty then got[1] = redis.call('HGET', RES, id) end -- the sweep may have dropped it
  return got[1]
end

local function holdReservation(id, row, packedRow, scopes, expiresAt)
  local fields = { id, struct.pack('<d', expiresAt) .. packedRow .. table.concat(scopes, '\n') }
  redis.call('ZADD', LEASE, expiresAt, id)
  if meta[1] == 0 or expiresAt < meta[1] then meta[1] = expiresAt; meta.dirty = true end
  local push = expiresAt + GRACE_MS > meta[2]
  if push then meta[2] = expiresAt + GRACE_MS + LEASE_SLACK_MS; meta.dirty = true end
  if meta.dirty then
    fields[3] = META_FIELD
    fields[4] = struct.pack('<dd', meta[1], meta[2])
    meta.dirty = false
  end
  redis.call('HSET', RES, unpack(fields))
  if push then
    redis.call('PEXPIREAT', RES, meta[2])
    redis.call('PEXPIREAT', LEASE, meta[2])
  end
  for _, scope in ipairs(scopes) do addHold(loadState(scope), row, expiresAt) end
end

-- Ends an open reservation (its value in "res") on every scope it holds: whether its lease was still valid, its scopes.
local function endReservation(id, value)
  local expiresAt, scopes = dropReservation(value)
  redis.call('HDEL', RES, id)
  redis.call('ZREM', LEASE, id)
  return expiresAt > NOW, scopes
end

-- Writes back every state this call changed (and the lease bookkeeping if the sweep moved it).
local function saveStates()
  if meta and meta.dirty then redis.call('HSET', RES, META_FIELD, spack('<dd', meta[1], meta[2])) end
  for scope, st in pairs(states) do
    local key, h = st.key, st.h
    if st.idle then
      if not st.dh then
        if st.hraw then keepDecoded(st.hraw, h) end
      elseif h[7] <= 0 then
        redis.call('DEL', key)
      else
        local packed = spack(FMT_H, unpack(h))
        redis.call('HSET', key, 'h', packed)
        redis.call('PEXPIREAT', key, meta[2])
        keepDecoded(packed, h)
      end
    else
      local args = {}
      if st.dh then
        local packed = spack(FMT_H, unpack(h))
        args[#args + 1] = 'h'
        args[#args + 1] = packed
        keepDecoded(packed, h)
      elseif st.hraw then
        keepDecoded(st.hraw, h)
      end
      if st.du then
        local packed = spack(FMT_U, unpack(st.u))
        args[#args + 1] = 'u'
        args[#args + 1] = packed
        keepDecoded(packed, st.u)
      elseif st.u and st.uraw then
        keepDecoded(st.uraw, st.u)
      end
      if st.dw then
        local kept = st.w
        if st.drop then
          kept = {}
          for i = 1, #st.w, 6 do
            if not st.drop[i] then
              for j = i, i + 5 do kept[#kept + 1] = st.w[j] end
            end
          end
        end
        if #kept > 0 then
          local packed = spack(doubles(#kept), unpack(kept))
          args[#args + 1] = 'w'
          args[#args + 1] = packed
          keepDecoded(packed, kept)
        else
          redis.call('HDEL', key, 'w')
        end
      elseif st.wraw then
        keepDecoded(st.wraw, st.w)
      end
      if #args > 0 then
        redis.call('HSET', key, unpack(args))
        if st.fresh then redis.call('SADD', entityKey(entityOf(scope)), scope) end
      end
    end
  end
end
