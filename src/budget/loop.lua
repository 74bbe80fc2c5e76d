-- The loop breaker on Redis: the rules of loop-breaker.ts, run atomically on agents' hashes, so every replica counts
-- every call. KEYS: the agents' hashes. ARGV[1]: 'observe' or 'view'.
-- observe: per key, 13 arguments: now, request fingerprint, tool call fingerprint ('' none), same_request, within ms,
--   same_tool_call, velocity_multiple, velocity_min_rpm, action (0 alert, 1 rate_limit, 2 hard_stop), escalate_after,
--   fingerprints kept, velocity minutes, key ttl ms. Reply: per key {0} (no loop), or {1, detector, fingerprint, count,
--   first, last, level, refuse, retry ms|-1, stopped|-1, changed}.
-- view (one key): now, within ms. Reply: {0}, or {1, detector, fingerprint, count, first, last, level, 0, retry, stopped, 0}.
-- Fields, packed with struct (numbers as doubles, exact for whole ms): s (tool, run, tool_first, minute, first_seen,
-- stopped, then requests per minute, the current one last), o (the fingerprints held, least recently seen first, each
-- between spaces), ep (strikes, last_flag, level, detector, fingerprint, count, first, last, retry, stopped), and
-- r:<fingerprint> (count, first, last, then its times within the window, at most same_request of them).

local EPISODE = '>dddssddddd'

local function episode(packed)
  if not packed then return nil end
  local strikes, last_flag, level, detector, fingerprint, count, first, last, retry, stopped = struct.unpack(EPISODE, packed)
  return { strikes = strikes, last_flag = last_flag, level = level, detector = detector, fingerprint = fingerprint,
    count = count, first = first, last = last, retry = retry, stopped = stopped }
end

local function reply(ep, refuse, stopped, changed)
  return { 1, ep.detector, ep.fingerprint, ep.count, ep.first, ep.last, ep.level, refuse, ep.retry, stopped, changed }
end

if ARGV[1] == 'view' then
  local ep = episode(redis.call('HGET', KEYS[1], 'ep') or nil)
  if not ep or ep.last_flag + tonumber(ARGV[3]) < tonumber(ARGV[2]) then return { 0 } end
  return reply(ep, 0, ep.stopped, 0)
end

local function observe(key, base)
  local now, request, tool = tonumber(ARGV[base + 1]), ARGV[base + 2], ARGV[base + 3]
  local same_request, within, same_tool = tonumber(ARGV[base + 4]), tonumber(ARGV[base + 5]), tonumber(ARGV[base + 6])
  local multiple, min_rpm = tonumber(ARGV[base + 7]), tonumber(ARGV[base + 8])
  local action, escalate_after = tonumber(ARGV[base + 9]), tonumber(ARGV[base + 10])
  local kept, window_minutes, ttl = tonumber(ARGV[base + 11]), tonumber(ARGV[base + 12]), tonumber(ARGV[base + 13])
  local STATE = '>sddddd' .. string.rep('d', window_minutes + 1)
  local held = redis.call('HMGET', key, 's', 'o', 'ep', 'r:' .. request)

  -- the agent's scalars and its requests per minute, the current one last
  local minute = math.floor(now / 60000)
  local held_tool, run, tool_first, last_minute, first_seen, stopped = '', 0, now, minute, now, 0
  local minutes = {}
  if held[1] then
    local state = { struct.unpack(STATE, held[1]) }
    held_tool, run, tool_first, last_minute, first_seen, stopped = state[1], state[2], state[3], state[4], state[5], state[6]
    for index = 1, window_minutes + 1 do minutes[index] = state[6 + index] end
  else
    for index = 1, window_minutes + 1 do minutes[index] = 0 end
  end
  for _ = 1, math.min(minute - last_minute, window_minutes + 1) do
    table.remove(minutes, 1)
    minutes[#minutes + 1] = 0
  end
  if minute > last_minute then last_minute = minute end
  minutes[#minutes] = minutes[#minutes] + 1

  -- the fingerprints held, least recently seen first: this one moved to the end, the oldest forgotten past `kept`
  local order, evicted = held[2] or ' ', nil
  local marked = ' ' .. request .. ' '
  local at = string.find(order, marked, 1, true)
  if at then
    if at + #marked - 1 ~= #order then order = string.sub(order, 1, at) .. string.sub(order, at + #marked) .. request .. ' ' end
  else
    local _, spaces = string.gsub(order, ' ', ' ')
    if not held[4] and spaces - 1 >= kept then
      evicted = string.match(order, '^ (%S+) ')
      order = string.sub(order, #evicted + 2)
    end
    order = order .. request .. ' '
  end

  -- this request's times within the window (at most same_request), and its count since it started repeating
  local count, first, times = 0, now, {}
  if held[4] then
    local seen = { struct.unpack('>' .. string.rep('d', (#held[4] / 8)), held[4]) }
    if seen[3] + within >= now then
      count, first = seen[1], seen[2]
      for index = 4, #seen - 1 do times[#times + 1] = seen[index] end
    end
  end
  times[#times + 1] = now
  local from = math.max(1, #times - same_request + 1)
  while times[from] <= now - within do from = from + 1 end
  count = count + 1

  -- the same tool call in a row
  if tool ~= '' and tool == held_tool then
    run = run + 1
  else
    held_tool, run, tool_first = tool, (tool == '' and 0 or 1), now
  end

  local detector, fingerprint, seen_count, seen_first = nil, '', 0, now
  if held_tool ~= '' and run >= same_tool then
    detector, fingerprint, seen_count, seen_first = 'same_tool_call', held_tool, run, tool_first
  elseif #times - from + 1 >= same_request then
    detector, fingerprint, seen_count, seen_first = 'same_request', request, count, first
  elseif multiple > 0 and now - first_seen >= (window_minutes + 1) * 60000 then
    local before = 0
    for index = 1, window_minutes do before = before + minutes[index] end
    if minutes[#minutes] > math.max(multiple * (before / window_minutes), min_rpm) then
      detector, seen_count, seen_first = 'velocity', minutes[#minutes], last_minute * 60000
    end
  end

  local ep = episode(held[3])
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
    redis.call('HSET', key, 'ep', struct.pack(EPISODE, ep.strikes, ep.last_flag, ep.level, ep.detector, ep.fingerprint,
      ep.count, ep.first, ep.last, ep.retry, ep.stopped))
  elseif stopped > now and ep then
    result = reply(ep, 1, stopped, 0)
  end

  redis.call('HSET', key,
    's', struct.pack(STATE, held_tool, run, tool_first, last_minute, first_seen, stopped, unpack(minutes)),
    'o', order,
    'r:' .. request, struct.pack('>ddd' .. string.rep('d', #times - from + 1), count, first, now, unpack(times, from)))
  if evicted then redis.call('HDEL', key, 'r:' .. evicted) end
  redis.call('PEXPIRE', key, ttl)
  return result
end

local results = {}
for index = 1, #KEYS do results[index] = observe(KEYS[index], 1 + (index - 1) * 13) end
return results
