-- standing v2: payload {checks[[scope, col, windowMs, limit]]}. Sweeps expired leases of the scopes, reserves nothing.
-- Reply: used, reserved, resetMs (-1 = none) per check.
local reply = {}
for _, check in ipairs(P.checks) do sweep(check[1]) end
for _, check in ipairs(P.checks) do
  local used, reserved, reset = standingOf(check)
  reply[#reply + 1] = used
  reply[#reply + 1] = reserved
  reply[#reply + 1] = reset
end
return reply
