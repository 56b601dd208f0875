-- End a leased fetch: the host rests delay_ms from now.
-- ARGV: ns, host, token, delay_ms, backoff (0/1), requeue entry ('' for none).
-- Returns 0 ok, 1 stale (schedule untouched; a requeued entry is kept anyway).
local ns, host, token = ARGV[1], ARGV[2], ARGV[3]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local sched = ns .. ':sched'
if ARGV[6] ~= '' then
  redis.call('LPUSH', ns .. ':q:' .. host, ARGV[6])
  redis.call('INCR', ns .. ':queued')
  redis.call('ZADD', sched, 'NX', now, host)
end
if redis.call('HGET', ns .. ':lease', host) ~= token then
  return 1
end
redis.call('HDEL', ns .. ':lease', host)
-- Remember the last few completed tokens of the host, so a task
-- redelivered after its work was done is recognised.
local done = redis.call('HGET', ns .. ':done', host)
local ring = token
if done then
  local kept = 0
  for tok in string.gmatch(done, '[^,]+') do
    if kept == 7 then break end
    ring, kept = ring .. ',' .. tok, kept + 1
  end
end
redis.call('HSET', ns .. ':done', host, ring)
redis.call('ZADD', sched, now + tonumber(ARGV[4]), host)
if ARGV[5] == '1' then
  redis.call('SADD', ns .. ':backoff', host)
else
  redis.call('SREM', ns .. ':backoff', host)
end
redis.call('LPUSH', ns .. ':wake', 1)
redis.call('LTRIM', ns .. ':wake', 0, 0)
return 0
