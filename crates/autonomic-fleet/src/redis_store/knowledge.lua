-- One exchange of window totals, atomically, on the server's clock (the rule of KnowledgeStore).
-- KEYS[1]: the fleet's window totals (a hash: instance -> "expires_ms,n1,...,n21")
-- KEYS[2]: the fleet's scopes (a hash: instance -> "expires_ms|RECORD", written with KEYS[1]),
--   RECORD the instance's SCOPES as a msgpack array of TAG, n1, ..., n21 per scope
-- ARGV: instance, ttl_ms, max_instances, then the instance's 21 numbers (each <= 2^43),
--   max_scopes, then the instance's SCOPES: entries "TAG:n1,...,n21" joined by ';', TAG one of
--   t<32 hex digits> (a tenant), p<0..255> (a pattern), T (other tenants), P (other patterns);
--   at most max_scopes tenants and as many patterns, T and P once each.
-- Reply: {status, instances, s1, ..., s21, SUMS of tenants, SUMS of patterns}, where SUMS is
--   {k, key1, n1..n21, ..., keyk, n1..n21, o1..o21}: the other live instances' scopes summed
--   scope by scope, at most max_scopes of them (the largest by volume, ties to the smaller
--   key; the rule of autonomic_fleet::volume) sorted by key, the rest summed into o.
--   status 1 published, 2 not published (max_instances others publish), -4 corrupt records;
--   s: the other live instances' numbers, summed (s21, the oldest running session: the max)
local MAX = 8796093022208 -- 2^43: 1024 of them sum exactly in a double
local N = 21
local MAX_SCOPES = 256
local function zeros()
  local z = {}
  for i = 1, N do z[i] = 0 end
  return z
end
local function append(r, n)
  for i = 1, N do r[#r + 1] = n[i] end
end
local function corrupt()
  local r = {-4}
  for i = 1, N + 1 do r[#r + 1] = 0 end
  for _ = 1, 2 do
    r[#r + 1] = 0
    append(r, zeros())
  end
  return r
end
-- Adds n into sums (the oldest running session: the max).
local function add(sums, n)
  for j = 1, N - 1 do sums[j] = sums[j] + n[j] end
  sums[N] = math.max(sums[N], n[N])
end
-- The sums of the scope a record's TAG names, in sums = {t = by tenant, p = by pattern,
-- T = other tenants, P = other patterns} (created at zero); nil if TAG names none.
local function scope_of(tag, sums)
  local kind = string.sub(tag, 1, 1)
  local by_key, key
  if kind == 't' then
    if #tag ~= 33 or string.find(tag, '[^0-9a-f]', 2) then return nil end
    by_key, key = sums.t, string.sub(tag, 2)
  elseif kind == 'p' then
    if #tag < 2 or #tag > 4 or string.find(tag, '[^0-9]', 2) then return nil end
    by_key, key = sums.p, tonumber(string.sub(tag, 2))
    if key > 255 or tostring(key) ~= string.sub(tag, 2) then return nil end
  elseif tag == 'T' or tag == 'P' then
    return sums[tag]
  else
    return nil
  end
  local into = by_key[key]
  if into == nil then
    into = zeros()
    by_key[key] = into
  end
  return into
end
-- The caller's SCOPES as the record to store (a msgpack array of TAG, n1, ..., n21 per
-- scope), or nil if it is not what an instance publishes: at most cap scopes of a kind, each
-- key once, T and P once, 21 numbers within MAX each.
local function own_record(s, cap)
  if #s > (2 * cap + 2) * 400 then return nil end
  local seen, kinds, flat, consumed = {}, {t = 0, p = 0, T = 0, P = 0}, {}, 0
  local sums = {t = {}, p = {}, T = zeros(), P = zeros()}
  for tag, rest in string.gmatch(s, '([^;:]*):([^;]*)') do
    consumed = consumed + #tag + #rest + 2
    if seen[tag] or scope_of(tag, sums) == nil then return nil end
    seen[tag] = true
    local kind = string.sub(tag, 1, 1)
    kinds[kind] = kinds[kind] + 1
    if not string.find(rest, '^%d[%d,]*$') or string.find(rest, ',,') then return nil end
    flat[#flat + 1] = tag
    local j = 0
    for d in string.gmatch(rest, '%d+') do
      j = j + 1
      local n = tonumber(d)
      if n > MAX then return nil end
      flat[#flat + 1] = n
    end
    if j ~= N then return nil end
  end
  if kinds.t > cap or kinds.p > cap or kinds.T ~= 1 or kinds.P ~= 1 then return nil end
  if consumed ~= #s + 1 then return nil end
  return cmsgpack.pack(flat)
end
-- Adds another instance's stored record into sums; false if it is not such a record. The hot
-- loop of the script: msgpack unpacks in C, numbers are added as they come (a value that is
-- not a number fails the whole record); the sums' bounds are the client's to check.
local function add_record(record, sums)
  if #record > (2 * MAX_SCOPES + 2) * 230 then return false end
  local ok = pcall(function()
    local flat = cmsgpack.unpack(record)
    local len = #flat
    if len % (N + 1) ~= 0 then error('length') end
    for i = 1, len, N + 1 do
      local into = scope_of(flat[i], sums)
      if into == nil then error('key') end
      for j = 1, N - 1 do into[j] = into[j] + flat[i + j] end
      into[N] = math.max(into[N], flat[i + N])
    end
  end)
  return ok
end
-- Appends to the reply the cap largest of by_key (summed scopes) and other with the rest.
local function reply_scopes(reply, by_key, other, cap)
  local list = {}
  for key, n in pairs(by_key) do list[#list + 1] = {key, n} end
  local function volume(n) return n[2] + n[3] + n[4] + n[19] end
  table.sort(list, function(a, b)
    local va, vb = volume(a[2]), volume(b[2])
    if va ~= vb then return va > vb end
    return a[1] < b[1]
  end)
  local kept = {}
  for i, e in ipairs(list) do
    if i <= cap then kept[#kept + 1] = e else add(other, e[2]) end
  end
  table.sort(kept, function(a, b) return a[1] < b[1] end)
  reply[#reply + 1] = #kept
  for _, e in ipairs(kept) do
    reply[#reply + 1] = e[1]
    append(reply, e[2])
  end
  append(reply, other)
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
local cap = tonumber(ARGV[4 + N])
if cap == nil or cap < 1 or cap > MAX_SCOPES or cap ~= math.floor(cap) then
  return redis.error_reply('ERR window totals: max_scopes is not 1..256')
end
local my_record = ARGV[5 + N] and own_record(ARGV[5 + N], cap)
if not my_record then
  return redis.error_reply('ERR window totals: the scopes argument is malformed')
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

-- The scopes of the other live instances, summed scope by scope.
if redis.call('HLEN', KEYS[2]) > 1024 then
  return corrupt()
end
local records = redis.call('HGETALL', KEYS[2])
local scopes = {t = {}, p = {}, T = zeros(), P = zeros()}
for i = 1, #records, 2 do
  local bar = string.find(records[i + 1], '|', 1, true)
  local expires = bar and string.sub(records[i + 1], 1, bar - 1)
  if not expires or #expires > 16 or not string.find(expires, '^%d+$') then
    return corrupt()
  end
  if tonumber(expires) <= now then
    redis.call('HDEL', KEYS[2], records[i])
  elseif records[i] ~= me then
    if not add_record(string.sub(records[i + 1], bar + 1), scopes) then
      return corrupt()
    end
  end
end

local status = 2
if present or live < max_n then
  status = 1
  local expires = string.format('%d', now + ttl_ms)
  redis.call('HSET', KEYS[1], me, expires .. ',' .. table.concat(mine, ','))
  redis.call('HSET', KEYS[2], me, expires .. '|' .. my_record)
  redis.call('PEXPIRE', KEYS[1], ttl_ms * 2)
  redis.call('PEXPIRE', KEYS[2], ttl_ms * 2)
end
local reply = {status, live}
for i = 1, N do reply[#reply + 1] = sums[i] end
reply_scopes(reply, scopes.t, scopes.T, cap)
reply_scopes(reply, scopes.p, scopes.P, cap)
return reply
