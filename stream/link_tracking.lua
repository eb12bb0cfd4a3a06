-- Record that an order shipped with a tracking number (or tie the number to a ring) and return
-- everything known about the number, in one call on one key: the number's bucket.
--
-- Tracking numbers are many (one per shipped order) and almost all are used once, so one key
-- each would cost far more in key overhead than in content. Instead a bucket hash holds many
-- numbers, one entry each, and stays a listpack (ziplist on Redis 6): every field and value is
-- kept within ARGV[7] bytes (hash-max-listpack-value) by splitting a long entry into pieces,
-- and `stream.tracking` sizes the buckets below hash-max-listpack-entries.
--
-- KEYS[1] the bucket, e.g. sw:v1:fact:trk:{t417}: one Cluster slot per bucket.
-- ARGV[1] 'link' (ARGV[3] order joins, ARGV[4] its store) or 'tie' (ARGV[3] the ring id)
-- ARGV[2] the number's field in the bucket (see stream.tracking.entry_field)
-- ARGV[5] cap: a new order joins while orders + ring id < cap + 1 (the rule of link_fact.lua)
-- ARGV[6] ttl in seconds, ARGV[7] piece size in bytes, ARGV[8] now (wall clock, epoch seconds)
--
-- An entry is: deadline (4 base-36 digits, hours since the epoch), then the orders as
-- order US store joined by RS, then GS ring id when tied (ids arrive escaped, never holding
-- these bytes). Field F holds its first piece, '~<i>:F' piece i; a piece shorter than
-- ARGV[7] is the last one.
--
-- Expiry: a touch (link or tie) sets the deadline to now + ttl, rounded up to the hour; past its
-- deadline an entry reads as absent. The bucket's own field '' holds when it is next swept of
-- such entries (every ttl / 16, at least hourly, when a new entry arrives), and the key expires
-- ttl after its last touch, as one key per number did.
-- Returns the entry as written.

local key, op, field = KEYS[1], ARGV[1], ARGV[2]
local cap, ttl_s = tonumber(ARGV[5]), tonumber(ARGV[6])
local piece_bytes, now_s = tonumber(ARGV[7]), tonumber(ARGV[8])
local US, RS, GS = '\31', '\30', '\29'
local HOUR_S, STAMP_CHARS, DIGITS = 3600, 4, '0123456789abcdefghijklmnopqrstuvwxyz'
local SWEEP_FIELD = ''

local function stamp(at_s)
  local hours, out = math.ceil(at_s / HOUR_S), {}
  for i = STAMP_CHARS, 1, -1 do
    local digit = hours % 36
    out[i] = DIGITS:sub(digit + 1, digit + 1)
    hours = (hours - digit) / 36
  end
  return table.concat(out)
end

local function past(stamped)
  return tonumber(stamped:sub(1, STAMP_CHARS), 36) * HOUR_S <= now_s
end

local function piece_field(i)
  if i == 0 then return field end
  return '~' .. i .. ':' .. field
end

local function read_pieces()
  local pieces = {}
  local piece = redis.call('HGET', key, field)
  while piece do
    pieces[#pieces + 1] = piece
    if #piece < piece_bytes then break end
    piece = redis.call('HGET', key, piece_field(#pieces))
  end
  return pieces
end

local function parse(entry)
  local orders, ring = {}, false
  if entry == '' or past(entry) then return orders, ring, true end
  local body = entry:sub(STAMP_CHARS + 1)
  local at = body:find(GS, 1, true)
  if at then
    ring = body:sub(at + 1)
    body = body:sub(1, at - 1)
  end
  for member in body:gmatch('[^' .. RS .. ']+') do
    local cut = member:find(US, 1, true)
    orders[#orders + 1] = {member:sub(1, cut - 1), member:sub(cut + 1)}
  end
  return orders, ring, false
end

local function join(orders, ring, order, store)
  for _, known in ipairs(orders) do
    if known[1] == order then
      if store ~= '' then known[2] = store end
      return
    end
  end
  if #orders + (ring and 1 or 0) < cap + 1 then orders[#orders + 1] = {order, store} end
end

-- Drop the entries (and their pieces) whose deadline has passed.
local function sweep()
  local flat = redis.call('HGETALL', key)
  local gone = {}
  for i = 1, #flat, 2 do
    local name = flat[i]
    if name ~= SWEEP_FIELD and not name:match('^~%d') and past(flat[i + 1]) then gone[name] = true end
  end
  for i = 1, #flat, 2 do
    local name = flat[i]
    local owner = name:match('^~%d+:(.*)$')
    if gone[name] or (owner and gone[owner]) then redis.call('HDEL', key, name) end
  end
end

local function sweep_when_due()
  local due = redis.call('HGET', key, SWEEP_FIELD)
  if due and not past(due) then return end
  sweep()
  redis.call('HSET', key, SWEEP_FIELD, stamp(now_s + math.max(HOUR_S, ttl_s / 16)))
end

local old_pieces = read_pieces()
local orders, ring, absent = parse(table.concat(old_pieces))
if op == 'link' then
  join(orders, ring, ARGV[3], ARGV[4])
else
  ring = ARGV[3]
end
if absent then sweep_when_due() end

local members = {}
for i, member in ipairs(orders) do members[i] = member[1] .. US .. member[2] end
local entry = stamp(now_s + ttl_s) .. table.concat(members, RS) .. (ring and (GS .. ring) or '')
local count = math.max(1, math.ceil(#entry / piece_bytes))
for i = 0, count - 1 do
  redis.call('HSET', key, piece_field(i), entry:sub(i * piece_bytes + 1, (i + 1) * piece_bytes))
end
for i = count, #old_pieces - 1 do redis.call('HDEL', key, piece_field(i)) end
redis.call('EXPIRE', key, ttl_s)
return entry
