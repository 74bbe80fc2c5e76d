-- The loop breaker on Redis: the rules of loop-breaker.ts, run atomically on one agent's hash, so every replica counts
-- every call. KEYS[1]: the agent's hash. ARGV[1]: 'observe' or 'view'.
-- observe: now, request fingerprint, tool call fingerprint ('' none), same_request, within ms, same_tool_call,
--   velocity_multiple, velocity_min_rpm, action (0 alert, 1 rate_limit, 2 hard_stop), escalate_after, fingerprints
--   kept, velocity minutes, key ttl ms.
-- Reply: {0} (no loop), or {1, detector, fingerprint, count, first, last, level, refuse, retry ms|-1, stopped|-1, changed}.
-- view: now, within ms. Reply: {0}, or {1, detector, fingerprint, count, first, last, level, 0, retry, stopped, 0}.
-- Fields: tool, run, tool_first, minute, minutes ("n,n,..."), first_seen, stopped, order (fingerprints, least recently
-- seen first), ep ("strikes,last_flag,level,detector,fingerprint,count,first,last,retry,stopped"), r:<fingerprint>
-- ("count,first,last,time,time,...": its times within the window, at most same_request of them).

local key = KEYS[1]

local function numbers(text)
  local list = {}
  if text then for item in string.gmatch(text, '[^,]+') do list[#list + 1] = tonumber(item) end end
  return list
end

local function split(text)
  local parts, start = {}, 1
  while true do
    local at = string.find(text, ',', start, true)
    if not at then
      parts[#parts + 1] = string.sub(text, start)
      return parts
    end
    parts[#parts + 1] = string.sub(text, start, at - 1)
    start = at + 1
  end
end

local function episode(text)
  if not text then return nil end
  local parts = split(text)
  return { strikes = tonumber(parts[1]), last_flag = tonumber(parts[2]), level = tonumber(parts[3]), detector = parts[4],
    fingerprint = parts[5], count = tonumber(parts[6]), first = tonumber(parts[7]), last = tonumber(parts[8]),
    retry = tonumber(parts[9]), stopped = tonumber(parts[10]) }
end

local function reply(ep, refuse, stopped, changed)
  return { 1, ep.detector, ep.fingerprint, ep.count, ep.first, ep.last, ep.level, refuse, ep.retry, stopped, changed }
end

if ARGV[1] == 'view' then
  local ep = episode(redis.call('HGET', key, 'ep') or nil)
  if not ep or ep.last_flag + tonumber(ARGV[3]) < tonumber(ARGV[2]) then return { 0 } end
  return reply(ep, 0, ep.stopped, 0)
end

local now, request, tool = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local same_request, within, same_tool = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local multiple, min_rpm, action, escalate_after = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local kept, window_minutes, ttl = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local held = redis.call('HMGET', key, 'tool', 'run', 'tool_first', 'minute', 'minutes', 'first_seen', 'stopped', 'order', 'ep', 'r:' .. request)

-- requests per minute, the current one last
local minute = math.floor(now / 60000)
local minutes = numbers(held[5])
local last_minute = tonumber(held[4]) or minute
if #minutes ~= window_minutes + 1 then
  minutes = {}
  for index = 1, window_minutes + 1 do minutes[index] = 0 end
end
for _ = 1, math.min(minute - last_minute, window_minutes + 1) do
  table.remove(minutes, 1)
  minutes[#minutes + 1] = 0
end
if minute > last_minute then last_minute = minute end
minutes[#minutes] = minutes[#minutes] + 1
local first_seen = tonumber(held[6]) or now

-- this request's times within the window; the fingerprints held, least recently seen first
local seen = numbers(held[10])
local count, first, times = 0, now, {}
if held[10] and seen[3] + within >= now then
  count, first = seen[1], seen[2]
  for index = 4, #seen do times[#times + 1] = seen[index] end
end
local order, evicted = {}, nil
if held[8] then for item in string.gmatch(held[8], '%S+') do if item ~= request then order[#order + 1] = item end end end
if not held[10] and #order >= kept then evicted = table.remove(order, 1) end
order[#order + 1] = request
times[#times + 1] = now
while #times > same_request or times[1] <= now - within do table.remove(times, 1) end
count = count + 1

-- the same tool call in a row
local run, tool_first, held_tool = tonumber(held[2]) or 0, tonumber(held[3]) or now, held[1] or ''
if tool ~= '' and tool == held_tool then
  run = run + 1
else
  held_tool, run, tool_first = tool, (tool == '' and 0 or 1), now
end

local detector, fingerprint, seen_count, seen_first = nil, '', 0, now
if held_tool ~= '' and run >= same_tool then
  detector, fingerprint, seen_count, seen_first = 'same_tool_call', held_tool, run, tool_first
elseif #times >= same_request then
  detector, fingerprint, seen_count, seen_first = 'same_request', request, count, first
elseif multiple > 0 and now - first_seen >= (window_minutes + 1) * 60000 then
  local before = 0
  for index = 1, window_minutes do before = before + minutes[index] end
  if minutes[#minutes] > math.max(multiple * (before / window_minutes), min_rpm) then
    detector, seen_count, seen_first = 'velocity', minutes[#minutes], last_minute * 60000
  end
end

local stopped = tonumber(held[7]) or 0
local ep = episode(held[9])
local result = { 0 }
if detector then
  if ep and ep.last_flag + within < now then ep = nil end
  local strikes = (ep and ep.strikes or 0) + 1
  local level = 2
  if action == 0 or strikes <= escalate_after then level = 0 elseif action == 1 or strikes <= 2 * escalate_after then level = 1 end
  if level == 2 then stopped = now + within end
  local changed = 0
  if not ep or ep.level ~= level then changed = 1 end
  ep = { strikes = strikes, last_flag = now, level = level, detector = detector, fingerprint = fingerprint,
    count = seen_count, first = seen_first, last = now, retry = (level == 1) and math.ceil(within / same_request) or -1,
    stopped = (level == 2) and stopped or -1 }
  result = reply(ep, level > 0 and 1 or 0, ep.stopped, changed)
  redis.call('HSET', key, 'ep', table.concat({ ep.strikes, ep.last_flag, ep.level, ep.detector, ep.fingerprint, ep.count,
    ep.first, ep.last, ep.retry, ep.stopped }, ','))
elseif stopped > now and ep then
  result = reply(ep, 1, stopped, 0)
end

local record = { count, first, now }
for index = 1, #times do record[#record + 1] = times[index] end
redis.call('HSET', key, 'tool', held_tool, 'run', run, 'tool_first', tool_first, 'minute', last_minute,
  'minutes', table.concat(minutes, ','), 'first_seen', first_seen, 'stopped', stopped, 'order', table.concat(order, ' '),
  'r:' .. request, table.concat(record, ','))
if evicted then redis.call('HDEL', key, 'r:' .. evicted) end
redis.call('PEXPIRE', key, ttl)
return result
