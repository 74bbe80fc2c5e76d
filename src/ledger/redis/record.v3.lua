-- record v3: ARGV[4] JSON {entries[[at, row[6], scopes]]}: usage without a reservation (e.g. rebuilt from history), one
-- call for a whole batch. Times after the server's now count as now; times older than the retention count in lifetime totals only.
-- Reply: how many entries were kept.
local P = cjson.decode(ARGV[4])
openReservations(nil)
local kept = 0
for _, entry in ipairs(P.entries) do
  local at = math.min(entry[1], NOW)
  if not isZeroRow(entry[2]) then
    -- older than the retention: in the lifetime totals only (no bucket is written that would already be gone)
    for _, scope in ipairs(uniqueList(entry[3])) do addUsage(loadState(scope), at, entry[2]) end
    if at > NOW - RETENTION_MS then kept = kept + 1 end
  end
end
saveStates()
return kept
