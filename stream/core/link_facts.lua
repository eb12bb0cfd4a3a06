-- Record a batch's touches of cross-store facts (bank accounts, tracking numbers, price-protection
-- claimants, rings) and return what each touch found, in one call: touch i works on KEYS[i].
-- One call per batch saves a round trip's packing, parsing and dispatch per fact, the largest
-- part of a fact's cost. On a Redis Cluster every key of a call must lie in one slot, so
-- stream.core.facts makes one call per slot there (still one pipelined round trip).
--
-- ARGV[1] cap on members, ARGV[2] ttl in seconds, ARGV[3] a tracking entry's piece size in bytes
-- (hash-max-listpack-value), ARGV[4] the touches: six values each (op, at, a, b, c, d), every
-- value framed as '<length in bytes>:<bytes>'. One framed argument instead of six per touch,
-- because the client's packing of an argument costs several times more than framing it.
--   'fact'    a member a (a store id) joins the fact with value b ('' keeps a known value)
--   'ring'    the fact belongs to ring a
--   'trk'     store c shipped to member b (a buyer's tag; d, the buyer's id, finds it in an
--             entry written before tags) with the tracking number whose field is a
--   'trk_tie' the tracking number whose field is a belongs to ring b
-- `at` is the time of the event that touches, in whole epoch seconds (decimal).
-- Touches run in order, so a touch sees the ones before it.
--
-- As of the event: every member keeps the event time of its first touch, a ring id the time of
-- the event it was tied for, and a touch returns only the members dated at or before its own
-- event (its own member always) and the ring tied before it (an alert ties its event's facts
-- after deciding it: the event, redone, must not find its own tie). A worker killed before its commit redoes the events since; the facts
-- already hold their touches, and those of the events after them, which the first decision did
-- not see and the second must not either. Values written before times were kept (no time)
-- read as dated 0: always seen.
--
-- Returns one string per touch: for 'fact', a JSON object {member: value, ..., '~ring': id};
-- for 'trk', the number's members as 'member US store' joined by RS, then GS ring id when tied;
-- for 'ring' and 'trk_tie', ''.

local cap, ttl_s = tonumber(ARGV[1]), tonumber(ARGV[2])
local piece_bytes = tonumber(ARGV[3])
local RING_FIELD = '~ring'
local US, RS, GS = '\31', '\30', '\29'
local DIGITS = {}  -- base-36 digits, by value
for i = 0, 35 do DIGITS[i] = ('0123456789abcdefghijklmnopqrstuvwxyz'):sub(i + 1, i + 1) end

-- Times and ages in base 36, '' for 0: 6 digits for an epoch second until 2038, then 7.
local function to36(n)
  local out = ''
  while n > 0 do
    local digit = n % 36
    out = DIGITS[digit] .. out
    n = (n - digit) / 36
  end
  return out
end

local function from36(text)
  if text == '' then return 0 end
  return tonumber(text, 36)
end

-- A fact's stored value: the member's value (escaped, never holding US), US, when it was first
-- touched. A value without US was written before times were kept: dated 0.
local function split_dated(stored)
  local cut = stored:find(US, 1, true)
  if not cut then return stored, 0 end
  return stored:sub(1, cut - 1), from36(stored:sub(cut + 1))
end

-- A fact of its own (bank account, claimant, ring): one hash, member -> value US first touch.
-- Memory is bounded: a fact holds at most `cap` fields, its ring id taking one of the places once
-- tied; past the cap a new member is not recorded (the fact is already shared by that many
-- members, which is all a detector needs to know), and the key expires `ttl` seconds
-- after its last touch (wall clock). The field '~ring' holds the ring id once a member was
-- alerted, US, when it was tied.
local function link_fact(key, at, member, value)
  local known = redis.call('HGET', key, member)
  if known then
    local known_value, known_at = split_dated(known)
    local new_value = known_value
    if value ~= '' then new_value = value end
    if new_value ~= known_value or at < known_at then
      redis.call('HSET', key, member, new_value .. US .. to36(math.min(at, known_at)))
    end
  elseif redis.call('HLEN', key) < cap then
    redis.call('HSET', key, member, value .. US .. to36(at))
  end
  redis.call('EXPIRE', key, ttl_s)
  local flat = redis.call('HGETALL', key)
  local result = {}
  for i = 1, #flat, 2 do
    local name = flat[i]
    local seen, dated = split_dated(flat[i + 1])
    if name == RING_FIELD then
      if dated < at then result[name] = seen end
    elseif dated <= at or name == member then
      result[name] = seen
    end
  end
  return cjson.encode(result)
end

-- The ring keeps the time of its first tie; another ring's tie replaces it, with its own time.
local function tie_fact(key, at, ring_id)
  local known = redis.call('HGET', key, RING_FIELD)
  local ring_at = at
  if known then
    local known_ring, known_at = split_dated(known)
    if known_ring == ring_id then ring_at = math.min(at, known_at) end
  end
  redis.call('HSET', key, RING_FIELD, ring_id .. US .. to36(ring_at))
  redis.call('EXPIRE', key, ttl_s)  -- the fact may have expired since it was read
  return ''
end

-- Tracking numbers are many (one per shipped order) and almost all are used once, so one key
-- each would cost far more in key overhead than in content. Instead a bucket hash holds many
-- numbers, one entry each, and stays a listpack (ziplist on Redis 6): every field and value is
-- kept within piece_bytes by splitting a long entry into pieces, and `stream.core.tracking` sizes
-- the buckets below hash-max-listpack-entries.
--
-- An entry is: its stamp (4 base-36 digits, the hour, rounded up, of its newest touch in event
-- time), then the members as member US store US age joined by RS, then GS ring id US age when
-- tied (ids arrive escaped, never holding these bytes). A member is a buyer's 4-byte tag (a
-- hash of its id: only whether two touches are the same buyer's matters); one written before
-- tags is the buyer's id, and a touch by that buyer renames it. An age is how many seconds
-- before the stamp's hour the member (or the tie) was first touched, in base 36: 4 digits for
-- anything within 19 days of the newest touch (a parcel's delivery), where a time would take 6.
-- A member or ring without an age was written before times were kept: dated 0. Field F holds
-- its first piece, '~<i>:F' piece i; a piece shorter than piece_bytes is the last one. A new
-- member joins while members + ring id < cap (the rule of link_fact).
--
-- Expiry, in event time: an entry lives ttl after its stamp, so for an event past that the
-- number is absent (a replay of a month sees what live traffic saw; entries written before
-- times were kept, whose stamp was their deadline, live a ttl more). The bucket's own field ''
-- holds when it is next swept of such entries (every ttl / 16, at least hourly, when a new
-- entry arrives), and the key expires ttl after its last touch by the wall clock, a backstop
-- that keeps nothing forever.
local HOUR_S, STAMP_CHARS = 3600, 4
local SWEEP_FIELD = ''

local function stamp_hours(at_s)
  return math.ceil(at_s / HOUR_S)
end

local function stamp(hours)
  local out = {}
  for i = STAMP_CHARS, 1, -1 do
    local digit = hours % 36
    out[i] = DIGITS[digit]
    hours = (hours - digit) / 36
  end
  return table.concat(out)
end

local function hours_of(stamped)
  return tonumber(stamped:sub(1, STAMP_CHARS), 36)
end

-- Whether an entry stamped `stamped` is past its ttl for an event at `at`.
local function past(stamped, at)
  return hours_of(stamped) * HOUR_S + ttl_s <= at
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

-- An item of an entry ('member US store [US age]', or 'ring [US age]') split at US.
local function split_item(item)
  local parts, at = {}, 1
  while true do
    local cut = item:find(US, at, true)
    if not cut then break end
    parts[#parts + 1] = item:sub(at, cut - 1)
    at = cut + 1
  end
  parts[#parts + 1] = item:sub(at)
  return parts
end

-- The entry as a table: hours (its stamp), orders {{member, store, at}}, ring, ring_at;
-- nil when absent (never written, or past its ttl for an event at `at`).
local function parse(entry, at)
  if entry == '' or past(entry, at) then return nil end
  local hours = hours_of(entry)
  local base_s = hours * HOUR_S
  local parsed = {hours = hours, orders = {}, ring = false, ring_at = 0}
  local body = entry:sub(STAMP_CHARS + 1)
  local mark = body:find(GS, 1, true)
  if mark then
    local ring = split_item(body:sub(mark + 1))
    parsed.ring = ring[1]
    if ring[2] then parsed.ring_at = base_s - from36(ring[2]) end
    body = body:sub(1, mark - 1)
  end
  for member in body:gmatch('[^' .. RS .. ']+') do
    local parts = split_item(member)
    local member_at = 0
    if parts[3] then member_at = base_s - from36(parts[3]) end
    parsed.orders[#parsed.orders + 1] = {parts[1], parts[2], member_at}
  end
  return parsed
end

local function join(parsed, member, plain, store, at)
  for _, known in ipairs(parsed.orders) do
    if known[1] == member or (plain ~= '' and known[1] == plain) then
      known[1] = member
      if store ~= '' then known[2] = store end
      known[3] = math.min(known[3], at)
      return
    end
  end
  if #parsed.orders + (parsed.ring and 1 or 0) < cap then
    parsed.orders[#parsed.orders + 1] = {member, store, at}
  end
end

local function tie(parsed, ring_id, at)
  if parsed.ring == ring_id then
    parsed.ring_at = math.min(parsed.ring_at, at)
  else
    parsed.ring, parsed.ring_at = ring_id, at
  end
end

local function encode(parsed)
  local base_s = parsed.hours * HOUR_S
  local members = {}
  for i, member in ipairs(parsed.orders) do
    members[i] = member[1] .. US .. member[2] .. US .. to36(base_s - member[3])
  end
  local ring = ''
  if parsed.ring then ring = GS .. parsed.ring .. US .. to36(base_s - parsed.ring_at) end
  return stamp(parsed.hours) .. table.concat(members, RS) .. ring
end

-- What an event at `at` sees of the entry: the members dated at or before it, its own member
-- whenever it was touched, and the ring tied before it.
local function seen_as_of(parsed, own, at)
  local members = {}
  for _, member in ipairs(parsed.orders) do
    if member[3] <= at or member[1] == own then
      members[#members + 1] = member[1] .. US .. member[2]
    end
  end
  local ring = ''
  if parsed.ring and parsed.ring_at < at then ring = GS .. parsed.ring end
  return table.concat(members, RS) .. ring
end

-- Drop the entries (and their pieces) past their ttl for an event at `at`.
local function sweep(key, at)
  local flat = redis.call('HGETALL', key)
  local gone = {}
  for i = 1, #flat, 2 do
    local name = flat[i]
    if name ~= SWEEP_FIELD and not name:match('^~%d') and past(flat[i + 1], at) then
      gone[name] = true
    end
  end
  for i = 1, #flat, 2 do
    local name = flat[i]
    local owner = name:match('^~%d+:(.*)$')
    if gone[name] or (owner and gone[owner]) then redis.call('HDEL', key, name) end
  end
end

local function sweep_when_due(key, at)
  local due = redis.call('HGET', key, SWEEP_FIELD)
  if due and hours_of(due) * HOUR_S > at then return end
  sweep(key, at)
  redis.call('HSET', key, SWEEP_FIELD, stamp(stamp_hours(at + math.max(HOUR_S, ttl_s / 16))))
end

-- ring_id is nil for a link, which adds member (of store) instead.
local function touch_tracking(key, at, field, member, plain, store, ring_id)
  local old_pieces = read_pieces(key, field)
  local parsed = parse(table.concat(old_pieces), at)
  if not parsed then
    sweep_when_due(key, at)
    if not ring_id and #old_pieces == 0 then
      -- a new number (most touches): its entry is this member alone, within one piece
      local hours = stamp_hours(at)
      local entry = stamp(hours) .. member .. US .. store .. US .. to36(hours * HOUR_S - at)
      if #entry < piece_bytes then
        redis.call('HSET', key, field, entry)
        redis.call('EXPIRE', key, ttl_s)
        return member .. US .. store
      end
    end
    parsed = {hours = 0, orders = {}, ring = false, ring_at = 0}
  end
  parsed.hours = math.max(parsed.hours, stamp_hours(at))
  if ring_id then
    tie(parsed, ring_id, at)
  else
    join(parsed, member, plain, store, at)
  end

  local entry = encode(parsed)
  local count = math.max(1, math.ceil(#entry / piece_bytes))
  for i = 0, count - 1 do
    redis.call('HSET', key, piece_field(field, i), entry:sub(i * piece_bytes + 1, (i + 1) * piece_bytes))
  end
  for i = count, #old_pieces - 1 do redis.call('HDEL', key, piece_field(field, i)) end
  redis.call('EXPIRE', key, ttl_s)
  if ring_id then return '' end
  return seen_as_of(parsed, member, at)
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

local values = unframe(ARGV[4])
if #values ~= 6 * #KEYS then
  return redis.error_reply('link_facts.lua: ' .. #values .. ' values for ' .. #KEYS .. ' keys')
end
local replies = {}
for i, key in ipairs(KEYS) do
  local first = 6 * (i - 1)
  local op, at = values[first + 1], tonumber(values[first + 2])
  local a, b, c, d = values[first + 3], values[first + 4], values[first + 5], values[first + 6]
  if not at then
    return redis.error_reply('link_facts.lua: touch ' .. i .. ' has no time: ' .. tostring(values[first + 2]))
  end
  if op == 'fact' then
    replies[i] = link_fact(key, at, a, b)
  elseif op == 'ring' then
    replies[i] = tie_fact(key, at, a)
  elseif op == 'trk' then
    replies[i] = touch_tracking(key, at, a, b, d, c, nil)
  elseif op == 'trk_tie' then
    replies[i] = touch_tracking(key, at, a, nil, nil, nil, b)
  else
    return redis.error_reply('link_facts.lua: unknown op ' .. tostring(op))
  end
end
return replies
