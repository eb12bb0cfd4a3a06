-- Apply one event to a store's state and return what the detectors need, in one round trip.
--
-- KEYS (all carry the {store_id} hash tag, so the script touches one Redis Cluster slot):
--   KEYS[1] profile hash   KEYS[2] window buckets hash   KEYS[3] per-SKU sales hash
-- ARGV:
--   1 ts (event time, s)  2 allowed lateness (s)  3 ttl (s)  4 buckets per window
--   5 number of metrics   6 number of windows W   7..6+W window lengths (s)
--   then: the stream the event came on (its type): lateness is judged within it
--   then: D, D pairs (metric index 0-based, delta)
--   then: P, P pairs (op..field, value); op '=' set, '>' keep the max, '<' keep the min
--   then: sku, sale unit price, sale units   (sku '' = none; units 0 = read only)
--
-- Windows are ring buffers of buckets keyed by event time: field "<w>:<slot>" holds
-- "<bucket index>,<metric 0>,<metric 1>,...". A slot whose stored index is older than the
-- event's bucket is reset before use, so memory per window is bounded by the bucket count
-- whatever the traffic. An event older than its slot's current bucket lies outside every
-- window that is still open and adds nothing.
--
-- Returns {status, max_ts, profile pairs (before this event), window sums..., sku record}.

local ts = tonumber(ARGV[1])
local lateness = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local nbuckets = tonumber(ARGV[4])
local nmetrics = tonumber(ARGV[5])
local nwin = tonumber(ARGV[6])
local lengths = {}
for i = 1, nwin do lengths[i] = tonumber(ARGV[6 + i]) end
local stream_name = ARGV[7 + nwin]
local a = 8 + nwin

local deltas = {}
local ndeltas = tonumber(ARGV[a]); a = a + 1
for _ = 1, ndeltas do
  deltas[tonumber(ARGV[a]) + 1] = tonumber(ARGV[a + 1]); a = a + 2
end
local prof_ops = {}
local nprof = tonumber(ARGV[a]); a = a + 1
for _ = 1, nprof do
  prof_ops[#prof_ops + 1] = {ARGV[a], ARGV[a + 1]}; a = a + 2
end
local sku = ARGV[a]
local sku_price = tonumber(ARGV[a + 1])
local sku_units = tonumber(ARGV[a + 2])

local profile = redis.call('HGETALL', KEYS[1])
local pmap = {}
for i = 1, #profile, 2 do pmap[profile[i]] = profile[i + 1] end
-- Late means behind newer events of the same store *on the same stream*: Kafka keeps order
-- within a partition only, so skew between the five topics is normal and is not lateness.
local stream_max_field = 'max_ts_' .. stream_name
local stream_max_ts = tonumber(pmap[stream_max_field] or '-1')
if stream_max_ts >= 0 and ts < stream_max_ts - lateness then
  return {'late', tostring(stream_max_ts)}
end
local max_ts = tonumber(pmap['max_ts'] or '-1')

-- profile: ops are applied after the snapshot above was taken
local new_prof = {}
for _, op in ipairs(prof_ops) do
  local kind, field, value = string.sub(op[1], 1, 1), string.sub(op[1], 2), op[2]
  local old = pmap[field]
  if kind == '=' or old == nil
      or (kind == '>' and tonumber(value) > tonumber(old))
      or (kind == '<' and tonumber(value) < tonumber(old)) then
    new_prof[#new_prof + 1] = field
    new_prof[#new_prof + 1] = value
  end
end
if max_ts < ts then
  new_prof[#new_prof + 1] = 'max_ts'
  new_prof[#new_prof + 1] = tostring(ts)
end
if stream_max_ts < ts then
  new_prof[#new_prof + 1] = stream_max_field
  new_prof[#new_prof + 1] = tostring(ts)
end
if #new_prof > 0 then redis.call('HSET', KEYS[1], unpack(new_prof)) end

local function parse(packed)
  local values = {}
  for part in string.gmatch(packed, '[^,]+') do values[#values + 1] = tonumber(part) end
  return values
end

-- windows: add the deltas to this event's bucket in every window
if ndeltas > 0 then
  for w = 1, nwin do
    local bucket_s = lengths[w] / nbuckets
    local idx = math.floor(ts / bucket_s)
    local field = w .. ':' .. (idx % nbuckets)
    local current = redis.call('HGET', KEYS[2], field)
    local values = nil
    if current then
      values = parse(current)
      if values[1] < idx then values = nil
      elseif values[1] > idx then values = false end
    end
    if values ~= false then
      if values == nil then
        values = {idx}
        for m = 1, nmetrics do values[m + 1] = 0 end
      end
      for m, delta in pairs(deltas) do values[m + 1] = values[m + 1] + delta end
      local parts = {}
      for i = 1, #values do parts[i] = string.format('%.15g', values[i]) end
      redis.call('HSET', KEYS[2], field, table.concat(parts, ','))
    end
  end
end

-- windows: sums over the buckets of each window ending at this event's time
local sums = {}
for w = 1, nwin do
  sums[w] = {}
  for m = 1, nmetrics do sums[w][m] = 0 end
end
local buckets = redis.call('HGETALL', KEYS[2])
for i = 1, #buckets, 2 do
  local w = tonumber(string.match(buckets[i], '^(%d+):'))
  if w and w <= nwin then
    local values = parse(buckets[i + 1])
    local newest = math.floor(ts / (lengths[w] / nbuckets))
    if values[1] <= newest and values[1] > newest - nbuckets then
      for m = 1, nmetrics do sums[w][m] = sums[w][m] + (values[m + 1] or 0) end
    end
  end
end

-- per-SKU recent sales: "last sale ts,highest unit price,units,value"; forgotten after the
-- longest window
local sku_record = ''
if sku ~= '' then
  local horizon = lengths[nwin]
  local current = redis.call('HGET', KEYS[3], sku)
  local rec = nil
  if current then
    rec = parse(current)
    if rec[1] < ts - horizon then rec = nil end
  end
  if sku_units > 0 then
    if rec == nil then rec = {ts, 0, 0, 0} end
    if ts > rec[1] then rec[1] = ts end
    if sku_price > rec[2] then rec[2] = sku_price end
    rec[3] = rec[3] + sku_units
    rec[4] = rec[4] + sku_price * sku_units
    sku_record = string.format('%.15g,%.15g,%.15g,%.15g', rec[1], rec[2], rec[3], rec[4])
    redis.call('HSET', KEYS[3], sku, sku_record)
  elseif rec then
    sku_record = current
  end
  redis.call('EXPIRE', KEYS[3], ttl)
end

redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)

local out = {'ok', tostring(math.max(max_ts, ts)), #profile / 2}
for i = 1, #profile do out[#out + 1] = profile[i] end
for w = 1, nwin do
  local parts = {}
  for m = 1, nmetrics do parts[m] = string.format('%.15g', sums[w][m]) end
  out[#out + 1] = table.concat(parts, ',')
end
out[#out + 1] = sku_record
return out
