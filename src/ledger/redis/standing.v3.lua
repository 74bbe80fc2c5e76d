-- standing v3: ARGV[4] numbers, 7 per check (as reserve's), ARGV[5] the scopes they name. Drops expired leases of the scopes, reserves nothing.
-- Reply: used, reserved, resetMs (-1 = none) per check.
readUsage = false -- as reserve
local names = linesOf(ARGV[5])
for _, name in ipairs(names) do guard(loadState(name)) end -- before anything is written
openReservations(nil)
local reply = {}
for _, check in ipairs(checksOf(ARGV[4], ARGV[5])) do
  local used, reserved, reset = standingOf(check)
  reply[#reply + 1] = used
  reply[#reply + 1] = reserved
  reply[#reply + 1] = reset
end
saveStates()
return reply
