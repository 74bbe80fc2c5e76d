-- record v2: payload {entries[[at, row[6], scopes]]}: usage without a reservation (e.g. rebuilt from history), one
-- call for a whole batch. Times after the server's now count as now; times older than the retention are dropped.
-- Reply: how many entries were kept.
local kept = 0
for _, entry in ipairs(P.entries) do
  local at = math.min(entry[1], NOW)
  if at > NOW - RETENTION_MS and not isZeroRow(entry[2]) then
    for _, scope in ipairs(uniqueList(entry[3])) do addUsage(scope, at, entry[2]) end
    kept = kept + 1
  end
end
return kept
