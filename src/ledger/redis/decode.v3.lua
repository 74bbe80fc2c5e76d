-- tollgate ledger v3, decoding (the first file of the Redis function library scripts.ts builds; common.v3.lua next):
-- packed doubles and argument lists, and what earlier calls decoded, kept by its bytes for the calls after.
-- The library functions used most, as locals (Redis gives a library no struct or math while it loads: begin sets them).
local spack, sunpack, floor

-- Formats of n little-endian doubles, made once per n.
local formats = {}
local function doubles(n)
  local format = formats[n]
  if not format then
    format = '<' .. string.rep('d', n)
    formats[n] = format
  end
  return format
end

-- The doubles packed in an argument, as a list.
local function numbersOf(packed)
  if #packed == 0 then return {} end
  local list = { struct.unpack(doubles(#packed / 8), packed) }
  list[#list] = nil -- the next position
  return list
end

-- Lists built from arguments that repeat from call to call (the scopes of an agent's requests, its policy's checks),
-- by the argument's text: read only, never changed by a caller. At most MEMO_MAX (all dropped when full).
local MEMO_MAX = 2000
local memo, memoCount = { lines = {}, checks = {} }, 0

local function remember(kind, text, list)
  if memoCount >= MEMO_MAX then memo, memoCount = { lines = {}, checks = {} }, 0 end
  memo[kind][text] = list
  memoCount = memoCount + 1
  return list
end

-- The scope names of an argument (one per line); the list is shared, read only.
local function linesOf(text)
  local list = memo.lines[text]
  if list then return list end
  list = {}
  for line in string.gmatch(text, '[^\n]+') do list[#list + 1] = line end
  return remember('lines', text, list)
end

local function unpackList(fmt, packed)
  local list = { sunpack(fmt, packed) }
  list[#list] = nil -- the next position
  return list
end

-- Fields decoded by earlier calls, by their packed bytes (the same bytes decode to the same list): most calls read
-- what the previous call on the scope wrote, and skip decoding it. A call takes a list out as it reads the field (it
-- may change it), and puts it back under the bytes it wrote, or read if unchanged (keepDecoded, in saveStates); so no
-- list is ever shared, and a call that fails part way leaves none behind. Two lists per bytes (scopes of one call often
-- hold the same: an agent and its shared budget). Lua strings are interned: a lookup is one hash probe. At most
-- DECODED_MAX lists are kept (all dropped when full): a few MB of Lua memory at most.
local DECODED_MAX = 4000
local decoded, decodedAlso, decodedCount = {}, {}, 0

local function takeDecoded(packed, format)
  local list = decodedAlso[packed]
  if list then
    decodedAlso[packed] = nil
  else
    list = decoded[packed]
    if not list then return unpackList(format, packed) end
    decoded[packed] = nil
  end
  decodedCount = decodedCount - 1
  return list
end

local function keepDecoded(packed, list)
  if decodedCount >= DECODED_MAX then decoded, decodedAlso, decodedCount = {}, {}, 0 end
  if not decoded[packed] then
    decoded[packed] = list
  elseif not decodedAlso[packed] then
    decodedAlso[packed] = list
  else
    return
  end
  decodedCount = decodedCount + 1
end
