-- One exchange of window totals, atomically, on the server's clock (the rule of KnowledgeStore).
-- The script keeps what must be atomic: the server's TIME, the expiry of dead instances,
-- storing the caller's record, the live instances' whole-runtime sums (21 numbers each); it
-- does not read scopes: it hands the live others' scopes records back as they are stored, and
-- the client decodes, checks and sums them (autonomic_fleet's scope_record.rs).
-- KEYS[1]: the fleet's window totals (a hash: instance -> "expires_ms,n1,...,n21"); an
--   instance is live while its record here has not expired
-- KEYS[2]: the fleet's scopes (a hash: instance -> RECORD, opaque bytes, written with KEYS[1])
-- ARGV: instance, ttl_ms, max_instances, then the instance's 21 numbers (each <= 2^43),
--   max_record_bytes (at most 131072), then the instance's RECORD (at most max_record_bytes)
-- Reply: {status, instances, s1, ..., s21, RECORD of each other live instance (nil if none,
--   0 if longer than max_record_bytes: no instance wrote it, the client leaves it out)}
--   status 1 published, 2 not published (max_instances others publish), -4 corrupt records;
--   s: the other live instances' numbers, summed (s21, the oldest running session: the max)
local MAX = 8796093022208 -- 2^43: 1024 of them sum exactly in a double
local N = 21
local MAX_RECORD = 131072
local function corrupt()
  return {-4}
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
local max_record = tonumber(ARGV[4 + N])
if max_record == nil or max_record < 0 or max_record > MAX_RECORD then
  return redis.error_reply('ERR window totals: max_record_bytes is not 0..131072')
end
local my_record = ARGV[5 + N]
if my_record == nil or #my_record > max_record then
  return redis.error_reply('ERR window totals: the scopes record is missing or too long')
end

if redis.call('HLEN', KEYS[1]) > 1024 or redis.call('HLEN', KEYS[2]) > 1024 then
  return corrupt()
end
local all = redis.call('HGETALL', KEYS[1])
local sums = {}
for i = 1, N do sums[i] = 0 end
local live, present, others = 0, false, {}
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
    redis.call('HDEL', KEYS[2], all[i])
  elseif all[i] == me then
    present = true
  else
    live = live + 1
    others[live] = all[i]
    for j = 1, N - 1 do sums[j] = sums[j] + n[j + 1] end
    sums[N] = math.max(sums[N], n[N + 1])
  end
end

-- The other live instances' scopes records, as stored (false where there is none, 0 where
-- one is longer than any instance writes: one bad record costs its instance's scopes only).
local records = {}
if live > 0 then
  records = redis.call('HMGET', KEYS[2], unpack(others))
  for i = 1, live do
    if records[i] and #records[i] > max_record then
      records[i] = 0
    end
  end
end

local status = 2
if present or live < max_n then
  status = 1
  local expires = string.format('%d', now + ttl_ms)
  redis.call('HSET', KEYS[1], me, expires .. ',' .. table.concat(mine, ','))
  redis.call('HSET', KEYS[2], me, my_record)
  redis.call('PEXPIRE', KEYS[1], ttl_ms * 2)
  redis.call('PEXPIRE', KEYS[2], ttl_ms * 2)
end
local reply = {status, live}
for i = 1, N do reply[#reply + 1] = sums[i] end
for i = 1, live do reply[#reply + 1] = records[i] end
return reply
