-- Release up to n due hosts, one URL each, leasing each host.
-- ARGV: ns, queue_lease_ms, n, token base (15 random decimal digits from
-- the client: scripts get no good randomness of their own). The i-th lease
-- of the call gets the token base .. i (4 digits), unique and unguessable.
-- Returns { next_due_in_ms or -1, host1, token1, entry1, host2, ... }.
local ns, lease_ms, n, base = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local sched, leases = ns .. ':sched', ns .. ':lease'
local due = redis.call('ZRANGEBYSCORE', sched, '-inf', now, 'LIMIT', 0, n)
local out, taken = { -1 }, 0
for _, host in ipairs(due) do
  -- A due host that still holds a lease lost it: the fetcher died or is late.
  redis.call('HDEL', leases, host)
  redis.call('SREM', ns .. ':backoff', host)
  local entry = redis.call('LPOP', ns .. ':q:' .. host)
  if entry then
    taken = taken + 1
    local token = base .. string.format('%04d', taken)
    redis.call('HSET', leases, host, token)
    redis.call('ZADD', sched, now + lease_ms, host)
    out[#out + 1], out[#out + 2], out[#out + 3] = host, token, entry
  else
    -- Nothing queued and its rest is over: forget the host.
    redis.call('ZREM', sched, host)
  end
end
if taken > 0 then
  redis.call('DECRBY', ns .. ':queued', taken)
end
local first = redis.call('ZRANGE', sched, 0, 0, 'WITHSCORES')
if first[2] then
  out[1] = math.max(0, tonumber(first[2]) - now)
end
return out
