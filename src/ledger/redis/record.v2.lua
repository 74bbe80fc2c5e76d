-- record v2: payload {entries[[at, row[6], scopes]]}: usage without a reservation (e.g. rebuilt from history), one
-- call for a whole batch. Times after the server's now count as now; times older than the retention count in lifetime totals only.
-- Reply: how many entries were kept.
local kept = 0
for _, entry in ipairs(P.entries) do
  local at = math.min(entry[1], NOW)
  if not isZeroRow(entry[2]) then
    -- older than the retention: in the lifetime totals only (addUsage writes no bucket that would already be gone)
    for _, scope in ipairs(uniqueList(entry[3])) do addUsage(scope, at, entry[2]) end
    if at > NOW - RETENTION_MS then kept = kept + 1 end
  end
end
return kept
