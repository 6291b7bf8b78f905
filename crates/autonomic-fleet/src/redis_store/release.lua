-- Gives a lease back if it is the instance's current one: 1 if removed, 0 if not.
-- KEYS[1]: the fleet's leases; ARGV: instance, epoch
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local e, x = string.match(v, '^(%d+),(%d+),')
if e and tonumber(e) == tonumber(ARGV[2]) and tonumber(x) > now then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
