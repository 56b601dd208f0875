-- Frontier counts in one consistent read.
-- ARGV: ns. Returns { hosts, due, leased, backoff, queued, admitted, oldest_due_ms }.
local ns = ARGV[1]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local sched = ns .. ':sched'
local first = redis.call('ZRANGE', sched, 0, 0, 'WITHSCORES')
local oldest = 0
if first[2] and tonumber(first[2]) <= now then
  oldest = now - tonumber(first[2])
end
return {
  redis.call('ZCARD', sched),
  redis.call('ZCOUNT', sched, '-inf', now),
  redis.call('HLEN', ns .. ':lease'),
  redis.call('SCARD', ns .. ':backoff'),
  tonumber(redis.call('GET', ns .. ':queued') or '0'),
  tonumber(redis.call('GET', ns .. ':admitted') or '0'),
  oldest,
}
