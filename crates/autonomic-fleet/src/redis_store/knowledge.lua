-- One exchange of window totals, atomically, on the server's clock (the rule of KnowledgeStore).
-- KEYS[1]: the fleet's window totals (a hash: instance -> "expires_ms,n1,...,n21")
-- KEYS[2]: the fleet's scopes (a hash: instance -> "expires_ms|SCOPES", written with KEYS[1])
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
-- Adds the scopes of SCOPES into tenants, patterns, other_t and other_p (keyed sums); false if
-- it is not a record as this script stores them. The hot loop of the script, so it sums as it
-- reads, without a table per scope; for another instance's record (cap nil) it checks the
-- record's form (size, keys, 21 numbers of at most 16 digits per scope) and leaves the sums'
-- bounds to the client. For the caller's own (cap given) it also checks that no key comes
-- twice, that T and P come once, at most cap scopes of a kind and every number within MAX:
-- stored as given, the record is read back unclamped.
local function add_scopes(s, tenants, patterns, other_t, other_p, cap)
  if #s > (2 * (cap or MAX_SCOPES) + 2) * 400 then return false end
  local seen = {t = 0, p = 0, T = 0, P = 0}
  local consumed = 0
  for tag, rest in string.gmatch(s, '([^;:]*):([^;]*)') do
    consumed = consumed + #tag + #rest + 2
    local into
    local kind = string.sub(tag, 1, 1)
    if kind == 't' then
      if #tag ~= 33 or string.find(tag, '[^0-9a-f]', 2) then return false end
      local id = string.sub(tag, 2)
      into = tenants[id]
      if into == nil then into = zeros(); tenants[id] = into elseif cap then return false end
    elseif kind == 'p' then
      if #tag < 2 or #tag > 4 or string.find(tag, '[^0-9]', 2) then return false end
      local id = tonumber(string.sub(tag, 2))
      if id > 255 then return false end
      into = patterns[id]
      if into == nil then into = zeros(); patterns[id] = into elseif cap then return false end
    elseif tag == 'T' then
      into = other_t
    elseif tag == 'P' then
      into = other_p
    else
      return false
    end
    seen[kind] = seen[kind] + 1
    if not string.find(rest, '^%d[%d,]*$') or string.find(rest, ',,') or
        string.find(rest, '%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d') then
      return false
    end
    local j = 0
    for d in string.gmatch(rest, '%d+') do
      j = j + 1
      if cap and tonumber(d) > MAX then
        return false
      elseif j < N then
        into[j] = into[j] + d
      elseif j == N then
        into[N] = math.max(into[N], tonumber(d))
      end
    end
    if j ~= N then return false end
  end
  if cap and (seen.t > cap or seen.p > cap or seen.T ~= 1 or seen.P ~= 1) then return false end
  return consumed == #s + 1
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
local my_scopes = ARGV[5 + N]
if my_scopes == nil or not add_scopes(my_scopes, {}, {}, zeros(), zeros(), cap) then
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
local tenants, patterns = {}, {}
local other_tenants, other_patterns = zeros(), zeros()
for i = 1, #records, 2 do
  local expires, scopes = string.match(records[i + 1], '^(%d+)|(.*)$')
  if expires == nil or #expires > 16 then
    return corrupt()
  end
  if tonumber(expires) <= now then
    redis.call('HDEL', KEYS[2], records[i])
  elseif records[i] ~= me then
    if not add_scopes(scopes, tenants, patterns, other_tenants, other_patterns) then
      return corrupt()
    end
  end
end

local status = 2
if present or live < max_n then
  status = 1
  local expires = string.format('%d', now + ttl_ms)
  redis.call('HSET', KEYS[1], me, expires .. ',' .. table.concat(mine, ','))
  redis.call('HSET', KEYS[2], me, expires .. '|' .. my_scopes)
  redis.call('PEXPIRE', KEYS[1], ttl_ms * 2)
  redis.call('PEXPIRE', KEYS[2], ttl_ms * 2)
end
local reply = {status, live}
for i = 1, N do reply[#reply + 1] = sums[i] end
reply_scopes(reply, tenants, other_tenants, cap)
reply_scopes(reply, patterns, other_patterns, cap)
return reply
