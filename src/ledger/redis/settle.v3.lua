-- settle v3: ARGV[4] id, ARGV[5] numbers {keep, row[6], orRecord's at (-1 = no orRecord)}, ARGV[6] orRecord's scopes.
-- Ends the reservation and adds the actual amounts as usage at the server's now on every scope it held. When it is not open (lease expired, reserve never ran, Redis lost
-- it) and orRecord is given, the amounts are recorded on those scopes at min(at, now) instead. Either way the id is
-- remembered as settled for `keep` ms, so a retry counts nothing and a late reserve holds nothing.
-- Reply 1 (or 2, see charge in usage.v3.lua) when this call counted the usage, 0 (nothing changed) when the id was already settled, or was not open and
-- no orRecord was given.
local id = ARGV[4]
local numbers = numbersOf(ARGV[5])
local keep = numbers[1]
local row = { numbers[2], numbers[3], numbers[4], numbers[5], numbers[6], numbers[7] }
local existing = openReservations(id)
local valid, scopes = false, nil
if existing then
  valid, scopes = endReservation(id, existing)
elseif redis.call('GET', tombstoneKey(id)) == 's' then
  saveStates()
  return 0
end
local at = NOW
if not valid then
  if numbers[8] < 0 then
    saveStates()
    return 0
  end
  scopes = linesOf(ARGV[6])
  at = math.min(numbers[8], NOW)
end
redis.call('SET', tombstoneKey(id), 's', 'PX', keep)
-- older than the retention: addUsage keeps it in the lifetime totals only
local forwarded = not isZeroRow(row) and charge(id, scopes, at, row)
saveStates()
-- 2: counted, part of it for a budget that moved (in the outbox: the replica applies it there)
if forwarded then return 2 end
return 1
