-- Put an entry back at the head of its host's queue, bypassing dedup.
-- ARGV: ns, host, entry.
local ns, host = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('LPUSH', ns .. ':q:' .. host, ARGV[3])
redis.call('INCR', ns .. ':queued')
redis.call('ZADD', ns .. ':sched', 'NX', now, host)
redis.call('LPUSH', ns .. ':wake', 1)
redis.call('LTRIM', ns .. ':wake', 0, 0)
return 0
