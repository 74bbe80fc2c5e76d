-- tollgate ledger v3, moves of a budget between groups (library part; see mark, fence, adopt and drop, and
-- docs/deploy.md "Membership changes"): what a budget's state is made of, and how it is merged into another group's.

-- The bucket hash epochs of a level that may still hold usage.
local function epochsOf(li)
  local size, keep = LEVELS[li][1], LEVELS[li][3]
  local span = EPOCH_BUCKETS * size
  return math.floor((NOW - keep) / span) - 1, math.floor(NOW / span), span, keep
end

-- Adds another namespace's usage list (lifetime totals, newest bucket per level) into a scope's state: a newest bucket
-- that is not the newest here any more goes to its bucket hash.
local function mergeUsage(st, other)
  local u = usageOf(st)
  for c = 1, 6 do u[c] = u[c] + other[c] end
  for li = 1, LEVEL_COUNT do
    local base = 7 * li
    if other[base] >= 0 then
      addToBucket(st, li, other[base], { other[base + 1], other[base + 2], other[base + 3], other[base + 4], other[base + 5], other[base + 6] })
    end
  end
  st.du = true
end
