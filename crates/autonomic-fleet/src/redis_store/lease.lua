-- One lease request, atomically, on the server's clock (the rule of LeaseStore).
-- KEYS[1]: the fleet's leases (a hash: instance -> "epoch,expires_ms,demand,charge_slots,charge_units")
-- KEYS[2]: the fleet's last epoch
-- ARGV: instance, epoch (0 = acquire), demand, holding_slots, holding_units,
--       cap_slots, cap_units, floor_slots, floor_units, max_instances, lease_ms
-- Reply: {status, epoch, granted_slots, granted_units, ttl_ms, live_instances}
--   status 1 granted, -1 stale, -2 expired, -3 full, -4 corrupt records
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me = ARGV[1]
local epoch = tonumber(ARGV[2])
local demand = math.min(tonumber(ARGV[3]), 1000000000)
local hold_s, hold_u = tonumber(ARGV[4]), tonumber(ARGV[5])
local cap_s, cap_u = tonumber(ARGV[6]), tonumber(ARGV[7])
local floor_s, floor_u = tonumber(ARGV[8]), tonumber(ARGV[9])
local max_n, lease_ms = tonumber(ARGV[10]), tonumber(ARGV[11])

if redis.call('HLEN', KEYS[1]) > 4096 then
  return {-4, 0, 0, 0, 0, 0}
end
local all = redis.call('HGETALL', KEYS[1])
local mine = nil
local n_others, d_others, taken_s, taken_u = 0, 0, 0, 0
local others = {}
for i = 1, #all, 2 do
  local e, x, d, cs, cu = string.match(all[i + 1], '^(%d+),(%d+),(%d+),(%d+),(%d+)$')
  if not e then
    return {-4, 0, 0, 0, 0, 0}
  end
  e, x, d, cs, cu = tonumber(e), tonumber(x), tonumber(d), tonumber(cs), tonumber(cu)
  if x <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] == me then
    mine = {e, cs, cu}
  else
    n_others = n_others + 1
    d_others = d_others + d
    others[n_others] = {e, d, cs, cu}
    taken_s = taken_s + math.max(cs - floor_s, 0)
    taken_u = taken_u + math.max(cu - floor_u, 0)
  end
end

if epoch > 0 then
  if mine == nil then return {-2, 0, 0, 0, 0, 0} end
  if mine[1] ~= epoch then return {-1, 0, 0, 0, 0, 0} end
else
  if mine == nil and n_others >= max_n then return {-3, 0, 0, 0, 0, 0} end
  -- A new epoch, larger than any before; from the clock too, so that a server that lost
  -- its writes (failover) still never hands out an epoch it handed out before.
  local last = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
  epoch = math.max(last + 1, now)
  redis.call('SET', KEYS[2], string.format('%d', epoch))
end

local pool_s = cap_s - floor_s * max_n
local pool_u = cap_u - floor_u * max_n
-- Largest remainder: each live instance gets floor(pool * demand / total); the units that
-- rounding leaves go one each to those ranked first by: charged above that share already
-- (it keeps its unit), then the largest remainder, then the smaller epoch. (Exact in doubles:
-- pool <= 10^6, demand <= 10^9, total <= 1024 * 10^9.)
local total = d_others + demand
local function weight(d)
  if total == 0 then return 1 end
  return d
end
local total_w = total
if total == 0 then total_w = n_others + 1 end
-- field: 3 for slots, 4 for units (in others' records; 2 and 3 in mine)
local function share(pool, floor, field)
  local scaled = pool * weight(demand)
  local mine_base, my_rest = math.floor(scaled / total_w), scaled % total_w
  local my_holds = 0
  if mine ~= nil and mine[field - 1] - floor > mine_base then my_holds = 1 end
  local given, ahead, holders = mine_base, 0, my_holds
  for i = 1, n_others do
    local s = pool * weight(others[i][2])
    local base, rest = math.floor(s / total_w), s % total_w
    given = given + base
    local holds = 0
    if others[i][field] - floor > base then holds = 1 end
    holders = holders + holds
    if holds > my_holds or (holds == my_holds and (rest > my_rest
        or (rest == my_rest and others[i][1] < epoch))) then
      ahead = ahead + 1
    end
  end
  -- A left-over unit nobody holds also goes to whoever asks while it is free.
  if ahead < pool - given or holders < pool - given then return mine_base + 1 end
  return mine_base
end
local share_s, share_u = share(pool_s, floor_s, 3), share(pool_u, floor_u, 4)
local granted_s = floor_s + math.min(share_s, math.max(pool_s - taken_s, 0))
local granted_u = floor_u + math.min(share_u, math.max(pool_u - taken_u, 0))
local charge_s, charge_u = granted_s, granted_u
if mine ~= nil then
  charge_s = math.max(granted_s, math.min(hold_s, mine[2]))
  charge_u = math.max(granted_u, math.min(hold_u, mine[3]))
else
  -- A new lease: what the instance still holds from an earlier one is charged as far as it
  -- is free.
  charge_s = math.max(granted_s, math.min(hold_s, floor_s + math.max(pool_s - taken_s, 0)))
  charge_u = math.max(granted_u, math.min(hold_u, floor_u + math.max(pool_u - taken_u, 0)))
end
redis.call('HSET', KEYS[1], me, string.format('%d,%d,%d,%d,%d',
  epoch, now + lease_ms, demand, charge_s, charge_u))
redis.call('PEXPIRE', KEYS[1], lease_ms * 2)
return {1, epoch, granted_s, granted_u, lease_ms, n_others + 1}
