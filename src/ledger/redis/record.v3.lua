-- record v3: ARGV[4] JSON {entries[[at, row[6], scopes]]}: usage without a reservation (e.g. rebuilt from history), one
-- call for a whole batch. Times after the server's now count as now; times older than the retention count in lifetime totals only.
-- Reply: {how many entries were kept, 1 when some usage went to the outbox (budgets that moved) else 0}.
local P = cjson.decode(ARGV[4])
openReservations(nil)
local kept, forwarded = 0, false
for _, entry in ipairs(P.entries) do
  local at = math.min(entry[1], NOW)
  if not isZeroRow(entry[2]) then
    -- older than the retention: in the lifetime totals only (no bucket is written that would already be gone)
    local newId = function() return 'rec:' .. fmt(NOW) .. ':' .. redis.call('INCR', NS .. 'recseq') end
    if charge(newId, uniqueList(entry[3]), at, entry[2]) then forwarded = true end
    if at > NOW - RETENTION_MS then kept = kept + 1 end
  end
end
saveStates()
-- kept, and 1 when some of it went to the outbox (budgets that moved)
return { kept, forwarded and 1 or 0 }
