-- Confirm a lease before fetching and restart its clock.
-- ARGV: ns, host, token, fetch_lease_ms. Returns 0 granted, 1 already done, 2 stale.
local ns, host, token = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', ns .. ':lease', host) == token then
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  redis.call('ZADD', ns .. ':sched', 'XX', now + tonumber(ARGV[4]), host)
  return 0
end
local done = redis.call('HGET', ns .. ':done', host)
if done and string.find(',' .. done .. ',', ',' .. token .. ',', 1, true) then
  return 1
end
return 2
