-- The hosts with the most queued URLs (for `crawler status`).
-- ARGV: ns, how many, how many hosts to scan at most (the most overdue first).
local ns, n, scan = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local hosts = redis.call('ZRANGE', ns .. ':sched', 0, scan - 1)
local sizes = {}
for _, h in ipairs(hosts) do
  local len = redis.call('LLEN', ns .. ':q:' .. h)
  if len > 0 then sizes[#sizes + 1] = { h, len } end
end
table.sort(sizes, function(a, b) return a[2] > b[2] end)
local out = {}
for i = 1, math.min(n, #sizes) do
  out[#out + 1] = sizes[i][1]
  out[#out + 1] = sizes[i][2]
end
return out
