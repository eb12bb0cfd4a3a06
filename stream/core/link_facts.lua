-- Record a batch's touches of cross-store facts (bank accounts, tracking numbers, price-protection
-- claimants, rings) and return what each touch found, in one call: touch i works on KEYS[i].
-- One call per batch saves a round trip's packing, parsing and dispatch per fact, the largest
-- part of a fact's cost. On a Redis Cluster every key of a call must lie in one slot, so
-- stream.core.facts makes one call per slot there (still one pipelined round trip).
--
-- ARGV[1] cap on members, ARGV[2] ttl in seconds, ARGV[3] a tracking entry's piece size in bytes
-- (hash-max-listpack-value), ARGV[4] now (wall clock, epoch seconds), ARGV[5] the touches: four
-- values each (op, a, b, c), every value framed as '<length in bytes>:<bytes>'. One framed
-- argument instead of four per touch, because the client's packing of an argument costs
-- several times more than framing it.
--   'fact'    a member (a store id) joins the fact with value b ('' keeps a known value)
--   'ring'    the fact belongs to ring a
--   'trk'     order b of store c shipped with the tracking number whose field is a
--   'trk_tie' the tracking number whose field is a belongs to ring b
-- Touches run in order, so a touch sees the ones before it.
-- Returns one string per touch: for 'fact', a JSON object {member: value, ..., '~ring': id};
-- for 'trk' and 'trk_tie', the number's entry as written; for 'ring', ''.

local cap, ttl_s = tonumber(ARGV[1]), tonumber(ARGV[2])
local piece_bytes, now_s = tonumber(ARGV[3]), tonumber(ARGV[4])
local RING_FIELD = '~ring'

-- A fact of its own (bank account, claimant, ring): one hash, member -> value.
-- Memory is bounded: a fact holds at most `cap` fields, its ring id taking one of the places once
-- tied; past the cap a new member is not recorded (the fact is already shared by that many
-- members, which is all a detector needs to know), and the key expires `ttl` seconds
-- after its last touch. The field '~ring' holds the ring id once a member was alerted.
local function link_fact(key, member, value)
  local known = redis.call('HGET', key, member)
  if known then
    if value ~= '' and value ~= known then redis.call('HSET', key, member, value) end
  elseif redis.call('HLEN', key) < cap then
    redis.call('HSET', key, member, value)
  end
  redis.call('EXPIRE', key, ttl_s)
  local flat = redis.call('HGETALL', key)
  local result = {}
  for i = 1, #flat, 2 do result[flat[i]] = flat[i + 1] end
  return cjson.encode(result)
end

local function tie_fact(key, ring_id)
  redis.call('HSET', key, RING_FIELD, ring_id)
  redis.call('EXPIRE', key, ttl_s)  -- the fact may have expired since it was read
  return ''
end

-- Tracking numbers are many (one per shipped order) and almost all are used once, so one key
-- each would cost far more in key overhead than in content. Instead a bucket hash holds many
-- numbers, one entry each, and stays a listpack (ziplist on Redis 6): every field and value is
-- kept within piece_bytes by splitting a long entry into pieces, and `stream.core.tracking` sizes
-- the buckets below hash-max-listpack-entries.
--
-- An entry is: deadline (4 base-36 digits, hours since the epoch), then the orders as
-- order US store joined by RS, then GS ring id when tied (ids arrive escaped, never holding
-- these bytes). Field F holds its first piece, '~<i>:F' piece i; a piece shorter than
-- piece_bytes is the last one. A new order joins while orders + ring id < cap (the rule of
-- link_fact).
--
-- Expiry: a touch (link or tie) sets the deadline to now + ttl, rounded up to the hour; past its
-- deadline an entry reads as absent. The bucket's own field '' holds when it is next swept of
-- such entries (every ttl / 16, at least hourly, when a new entry arrives), and the key expires
-- ttl after its last touch, as one key per number did.
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

local function piece_field(field, i)
  if i == 0 then return field end
  return '~' .. i .. ':' .. field
end

local function read_pieces(key, field)
  local pieces = {}
  local piece = redis.call('HGET', key, field)
  while piece do
    pieces[#pieces + 1] = piece
    if #piece < piece_bytes then break end
    piece = redis.call('HGET', key, piece_field(field, #pieces))
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
  if #orders + (ring and 1 or 0) < cap then orders[#orders + 1] = {order, store} end
end

-- Drop the entries (and their pieces) whose deadline has passed.
local function sweep(key)
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

local function sweep_when_due(key)
  local due = redis.call('HGET', key, SWEEP_FIELD)
  if due and not past(due) then return end
  sweep(key)
  redis.call('HSET', key, SWEEP_FIELD, stamp(now_s + math.max(HOUR_S, ttl_s / 16)))
end

-- ring_id is nil for a link, which adds order (of store) instead.
local function touch_tracking(key, field, order, store, ring_id)
  local old_pieces = read_pieces(key, field)
  local orders, ring, absent = parse(table.concat(old_pieces))
  if ring_id then
    ring = ring_id
  else
    join(orders, ring, order, store)
  end
  if absent then sweep_when_due(key) end

  local members = {}
  for i, member in ipairs(orders) do members[i] = member[1] .. US .. member[2] end
  local entry = stamp(now_s + ttl_s) .. table.concat(members, RS) .. (ring and (GS .. ring) or '')
  local count = math.max(1, math.ceil(#entry / piece_bytes))
  for i = 0, count - 1 do
    redis.call('HSET', key, piece_field(field, i), entry:sub(i * piece_bytes + 1, (i + 1) * piece_bytes))
  end
  for i = count, #old_pieces - 1 do redis.call('HDEL', key, piece_field(field, i)) end
  redis.call('EXPIRE', key, ttl_s)
  return entry
end

local function unframe(framed)
  local values, at = {}, 1
  while at <= #framed do
    local colon = framed:find(':', at, true)
    local size = tonumber(framed:sub(at, colon - 1))
    values[#values + 1] = framed:sub(colon + 1, colon + size)
    at = colon + size + 1
  end
  return values
end

local values = unframe(ARGV[5])
if #values ~= 4 * #KEYS then
  return redis.error_reply('link_facts.lua: ' .. #values .. ' values for ' .. #KEYS .. ' keys')
end
local replies = {}
for i, key in ipairs(KEYS) do
  local at = 4 * (i - 1)
  local op, a, b, c = values[at + 1], values[at + 2], values[at + 3], values[at + 4]
  if op == 'fact' then
    replies[i] = link_fact(key, a, b)
  elseif op == 'ring' then
    replies[i] = tie_fact(key, a)
  elseif op == 'trk' then
    replies[i] = touch_tracking(key, a, b, c, nil)
  elseif op == 'trk_tie' then
    replies[i] = touch_tracking(key, a, nil, nil, b)
  else
    return redis.error_reply('link_facts.lua: unknown op ' .. tostring(op))
  end
end
return replies
