-- One exchange of window totals, atomically, on the server's clock (the rule of KnowledgeStore).
-- KEYS[1]: the fleet's window totals (a hash: instance -> "expires_ms,n1,...,n21")
-- ARGV: instance, ttl_ms, max_instances, then the instance's 21 numbers (each <= 2^43)
-- Reply, always 23 integers: {status, instances, s1, ..., s21}
--   status 1 published, 2 not published (max_instances others publish), -4 corrupt records;
--   s: the other live instances' numbers, summed (s21, the oldest running session: the max)
local MAX = 8796093022208 -- 2^43: 1024 of them sum exactly in a double
local N = 21
local function corrupt()
  local r = {-4}
  for i = 1, N + 1 do r[#r + 1] = 0 end
  return r
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me = ARGV[1]
local ttl_ms, max_n = tonumber(ARGV[2]), tonumber(ARGV[3])
local mine = {}
for i = 1, N do
  local v = ARGV[3 + i]
  if v == nil or not string.find(v, '^%d+$') or #v > 16 then
    return redis.error_reply('ERR window totals: argument ' .. (3 + i) .. ' is not a count')
  end
  mine[i] = string.format('%d', math.min(tonumber(v), MAX))
end

if redis.call('HLEN', KEYS[1]) > 1024 then
  return corrupt()
end
local all = redis.call('HGETALL', KEYS[1])
local sums = {}
for i = 1, N do sums[i] = 0 end
local live, present = 0, false
for i = 1, #all, 2 do
  local v = all[i + 1]
  if #v > 512 or not string.find(v, '^%d+[%d,]*$') then
    return corrupt()
  end
  local n = {}
  for d in string.gmatch(v, '%d+') do
    n[#n + 1] = math.min(tonumber(d), MAX)
  end
  if #n ~= N + 1 then
    return corrupt()
  end
  if n[1] <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] == me then
    present = true
  else
    live = live + 1
    for j = 1, N - 1 do sums[j] = sums[j] + n[j + 1] end
    sums[N] = math.max(sums[N], n[N + 1])
  end
end

local status = 2
if present or live < max_n then
  status = 1
  redis.call('HSET', KEYS[1], me, string.format('%d', now + ttl_ms) .. ',' .. table.concat(mine, ','))
  redis.call('PEXPIRE', KEYS[1], ttl_ms * 2)
end
local reply = {status, live}
for i = 1, N do reply[#reply + 1] = sums[i] end
return reply
