-- Dedup and enqueue one link batch, atomically per URL.
-- ARGV: ns, max_urls (0 = no cap), max_urls_per_host (0 = no cap),
--       then per URL: hash (signed i64, decimal), bucket, host, entry
-- Returns one code per URL: 0 queued, 1 duplicate, 2 over the cap,
-- 3 over the host's cap.
local ns, cap, host_cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local admitted = tonumber(redis.call('GET', ns .. ':admitted') or '0')
local queued, out = 0, {}
for i = 4, #ARGV, 4 do
  local seen = ns .. ':seen:' .. ARGV[i + 1]
  local host = ARGV[i + 2]
  if cap > 0 and admitted >= cap then
    -- At the cap: a new URL is refused without being marked seen.
    out[#out + 1] = (redis.call('SISMEMBER', seen, ARGV[i]) == 1) and 1 or 2
  elseif host_cap > 0 and redis.call('SISMEMBER', seen, ARGV[i]) == 0
      and tonumber(redis.call('HGET', ns .. ':host_admitted', host) or '0') >= host_cap then
    out[#out + 1] = 3
  elseif redis.call('SADD', seen, ARGV[i]) == 0 then
    out[#out + 1] = 1
  else
    if host_cap > 0 then
      -- Counted only under a budget: the hash costs memory per host.
      redis.call('HINCRBY', ns .. ':host_admitted', host, 1)
    end
    redis.call('RPUSH', ns .. ':q:' .. host, ARGV[i + 3])
    -- NX: a host that is leased or resting keeps its clock.
    redis.call('ZADD', ns .. ':sched', 'NX', now, host)
    admitted, queued = admitted + 1, queued + 1
    out[#out + 1] = 0
  end
end
if queued > 0 then
  redis.call('INCRBY', ns .. ':admitted', queued)
  redis.call('INCRBY', ns .. ':queued', queued)
  redis.call('LPUSH', ns .. ':wake', 1)
  redis.call('LTRIM', ns .. ':wake', 0, 0)
end
return out
