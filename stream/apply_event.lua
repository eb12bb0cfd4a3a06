-- Apply one event to a store's state and return what the detectors need, in one round trip.
--
-- KEYS (all carry the {store_id} hash tag, so the script touches one Redis Cluster slot):
--   KEYS[1] profile hash   KEYS[2] window buckets hash   KEYS[3] per-SKU sales hash
--   KEYS[4] event ids of this stream (zset by event time)   KEYS[5] views not yet decided
--   KEYS[6] orders placed (zset by event time)
-- ARGV (two JSON strings: packing one argument is far cheaper for the client than thirty):
--   ARGV[1] settings: {"lateness_s", "ttl_s", "buckets", "metrics", "lengths_s": [...]}
--   ARGV[2] the event's update: {"ts", "stream" (its type: lateness is judged within it),
--           "deltas": {"<metric index 0-based>": delta}, "ops": [[op..field, value], ...]
--           (op '=' set, '>' keep the max, '<' keep the min), "sku" ('' = none),
--           "price", "units" (0 = read only), "id" (event id), "keep" (1: save the view until
--           the engine has decided on it), "placed" (order id of a placed order, '' = none),
--           "refund_of" (order id a refund is for, '' = none)}
--
-- Windows are ring buffers of buckets keyed by event time: field "<w>:<slot>" holds
-- "<bucket index>,<metric 0>,<metric 1>,...". A slot whose stored index is older than the
-- event's bucket is reset before use, so memory per window is bounded by the ring size
-- (buckets per window plus the allowed lateness) whatever the traffic.
--
-- Returns one JSON string (one bulk reply is far cheaper to parse than a nested array):
-- {"late": max_ts_of_stream}, {"duplicate": 1}, {"unknown_order": 1} (nothing written), or
-- {"max_ts": .., "profile": {..} (as before this event), "windows": [[sums]...], "sku": "..."}
-- with "redo": true when a duplicate's first decision never finished (its saved view).

local conf = cjson.decode(ARGV[1])
local update = cjson.decode(ARGV[2])
local ts = update.ts
local lateness = conf.lateness_s
local ttl = conf.ttl_s
local nbuckets = conf.buckets
local nmetrics = conf.metrics
local lengths = conf.lengths_s
local nwin = #lengths
local stream_name = update.stream
local deltas = {}
local ndeltas = 0
for index, delta in pairs(update.deltas) do
  deltas[tonumber(index) + 1] = delta
  ndeltas = ndeltas + 1
end
local prof_ops = update.ops
local sku = update.sku
local sku_price = update.price
local sku_units = update.units

local profile = redis.call('HGETALL', KEYS[1])
local pmap = {}
for i = 1, #profile, 2 do pmap[profile[i]] = profile[i + 1] end
-- Late means behind newer events of the same store *on the same stream*: Kafka keeps order
-- within a partition only, so skew between the five topics is normal and is not lateness.
local stream_max_field = 'max_ts_' .. stream_name
local stream_max_ts = tonumber(pmap[stream_max_field] or '-1')
local event_id = update.id

-- A copy of an event whose decision never finished (a crash between this call and the alert)
-- gets the view saved by the first call back, so the engine decides it again on the same
-- state. Looked up before lateness: the events after it in the crashed batch may have moved
-- its stream past the allowed lateness, and refusing it as late would lose its alert.
local saved = redis.call('HGET', KEYS[5], event_id)
if saved then return string.sub(saved, 1, -2) .. ',"redo":true}' end

if stream_max_ts >= 0 and ts < stream_max_ts - lateness then
  return cjson.encode({late = stream_max_ts})
end
local max_ts = tonumber(pmap['max_ts'] or '-1')

-- Exactly one effect per event id. Ids are kept for as long as the stream would accept the
-- event (the allowed lateness), beyond which a copy is refused as late anyway.
if redis.call('ZSCORE', KEYS[4], event_id) then
  return '{"duplicate":1}'
end

-- A refund for an order this store never placed. Decided only where it can be: the store is
-- younger than the order memory (so every order it placed is remembered), and its order
-- stream has moved past the refund by more than the allowed lateness (so the order can no
-- longer arrive in time). Otherwise the refund counts: it may have overtaken its order.
local order_memory = lengths[nwin]
local refund_of = update.refund_of
if refund_of ~= '' and not redis.call('ZSCORE', KEYS[6], refund_of) then
  local first_ts = tonumber(pmap['first_ts'] or tostring(ts))
  local order_stream_ts = tonumber(pmap['max_ts_order'] or '-1')
  if first_ts >= ts - order_memory and order_stream_ts > ts + lateness then
    return '{"unknown_order":1}'
  end
end

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

-- Packed numbers are "n1,n2,...": written by table.concat (C, 14 significant digits) and read
-- by cjson (C), about twice as fast as a Lua loop of string.format and tonumber.
local function parse(packed)
  return cjson.decode('[' .. packed .. ']')
end

local function zeros()
  local values = {}
  for m = 1, nmetrics do values[m] = 0 end
  return values
end

local function pack(values)
  return table.concat(values, ',')
end

-- Sum of window w's buckets in (idx - nbuckets, idx], read slot by slot: the slow path, for an
-- event older than the window's newest bucket (out of order across topics).
local function sum_slots(prefix, idx, ring)
  local fields = {}
  for slot = 0, ring - 1 do fields[#fields + 1] = prefix .. ':' .. slot end
  local total = zeros()
  for _, packed in ipairs(redis.call('HMGET', KEYS[2], unpack(fields))) do
    if packed then
      local values = parse(packed)
      if values[1] <= idx and values[1] > idx - nbuckets then
        for m = 1, nmetrics do total[m] = total[m] + values[m + 1] end
      end
    end
  end
  return total
end

-- The window ending at bucket idx, for an event older than the head (out of order across
-- topics): the running window minus the buckets in (idx, head], plus the ones in
-- (idx - nbuckets, head - nbuckets] that the running window already dropped. That is
-- 2 * (head - idx) slot reads, few for the small skews of live traffic; a skew beyond what
-- the ring keeps falls back to summing the ring.
local function window_at(prefix, idx, head, running, ring)
  if head - idx > ring - nbuckets then return sum_slots(prefix, idx, ring) end
  local fields, signs, indexes = {}, {}, {}
  for b = idx + 1, head do
    fields[#fields + 1] = prefix .. ':' .. (b % ring); signs[#fields] = -1; indexes[#fields] = b
  end
  for b = idx - nbuckets + 1, head - nbuckets do
    fields[#fields + 1] = prefix .. ':' .. (b % ring); signs[#fields] = 1; indexes[#fields] = b
  end
  local total = {}
  for m = 1, nmetrics do total[m] = running[m] end
  for i, packed in ipairs(redis.call('HMGET', KEYS[2], unpack(fields))) do
    if packed then
      local values = parse(packed)
      if values[1] == indexes[i] then
        for m = 1, nmetrics do total[m] = total[m] + signs[i] * values[m + 1] end
      end
    end
  end
  return total
end

-- Each window w keeps a ring of buckets (fields "w:slot") and a running sum ("s:w") of the
-- buckets in (head - nbuckets, head], head being its newest bucket ("h:w"). Moving the head
-- forward subtracts the buckets that fall out, so an in-order event reads its window in O(1).
-- The ring holds the allowed lateness on top of the window, so a late event's window is
-- still whole.
local sums = {}
for w = 1, nwin do
  local bucket_s = lengths[w] / nbuckets
  local ring = nbuckets + math.ceil(lateness / bucket_s) + 1
  local idx = math.floor(ts / bucket_s)
  -- Fields are named by the window's shape, so a window retuned at run time starts a ring of
  -- its own instead of misreading the old one (which expires with the store's key).
  local prefix = lengths[w] .. '/' .. nbuckets .. '/' .. ring
  local stored = redis.call('HMGET', KEYS[2], 'h:' .. prefix, 's:' .. prefix)
  local head = tonumber(stored[1] or '-1')
  local running
  if head < 0 or idx - head >= nbuckets then
    running = zeros()
    head = idx
  else
    running = parse(stored[2])
    if idx > head then
      for old = head - nbuckets + 1, idx - nbuckets do
        local packed = redis.call('HGET', KEYS[2], prefix .. ':' .. (old % ring))
        if packed then
          local values = parse(packed)
          if values[1] == old then
            for m = 1, nmetrics do running[m] = running[m] - values[m + 1] end
          end
        end
      end
      head = idx
    end
  end
  if ndeltas > 0 then
    local field = prefix .. ':' .. (idx % ring)
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
      for m, delta in pairs(deltas) do
        values[m + 1] = values[m + 1] + delta
        if idx > head - nbuckets then running[m] = running[m] + delta end
      end
      redis.call('HSET', KEYS[2], field, pack(values))
    end
  end
  redis.call('HSET', KEYS[2], 'h:' .. prefix, head, 's:' .. prefix, pack(running))
  if idx == head then sums[w] = running else sums[w] = window_at(prefix, idx, head, running, ring) end
end

-- SKUs that sold nothing since `oldest` are forgotten, so a store that keeps listing new
-- SKUs stays bounded by the SKUs it sold within the longest window. Amortized O(1) per sale:
-- the hash is scanned only once it has doubled since it was last pruned (its size then is
-- kept in the field '~n').
local SKUS_PRUNED_FROM = 32
local function prune_skus(oldest)
  local size = redis.call('HLEN', KEYS[3])
  local pruned_size = tonumber(redis.call('HGET', KEYS[3], '~n') or SKUS_PRUNED_FROM)
  if size <= 2 * pruned_size then return end
  local flat = redis.call('HGETALL', KEYS[3])
  local stale = {}
  for i = 1, #flat, 2 do
    if flat[i] ~= '~n' and parse(flat[i + 1])[1] < oldest then stale[#stale + 1] = flat[i] end
  end
  for first = 1, #stale, 1000 do
    redis.call('HDEL', KEYS[3], unpack(stale, first, math.min(first + 999, #stale)))
  end
  redis.call('HSET', KEYS[3], '~n', math.max(SKUS_PRUNED_FROM, size - #stale))
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
    if redis.call('HSET', KEYS[3], sku, sku_record) == 1 then prune_skus(ts - horizon) end
  elseif rec then
    sku_record = current
  end
  redis.call('EXPIRE', KEYS[3], ttl)
end

-- Orders are remembered only while the store is younger than the order memory: past that
-- the unknown-order check above cannot be decided, so an established store keeps none.
if update.placed ~= '' then
  local first_ts = math.min(tonumber(pmap['first_ts'] or tostring(ts)), ts)
  if first_ts >= ts - order_memory then
    redis.call('ZADD', KEYS[6], ts, update.placed)
    redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', '(' .. (ts - order_memory))
    redis.call('EXPIRE', KEYS[6], ttl)
  elseif pmap['first_ts'] then
    redis.call('UNLINK', KEYS[6])
  end
end

redis.call('ZADD', KEYS[4], ts, event_id)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (math.max(stream_max_ts, ts) - lateness))
redis.call('EXPIRE', KEYS[4], ttl)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)

local reply = cjson.encode({max_ts = math.max(max_ts, ts), profile = pmap, windows = sums,
                            sku = sku_record})
if update.keep == 1 then
  redis.call('HSET', KEYS[5], event_id, reply)
  redis.call('EXPIRE', KEYS[5], ttl)
end
return reply
