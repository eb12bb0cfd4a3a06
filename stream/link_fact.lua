-- Record that a store touched a cross-store fact (a bank account, a tracking number, a buyer
-- who claimed price protection) and return who else did, in one call on one key.
--
-- KEYS[1] the fact's hash, e.g. sw:v1:fact:bank:{6222...}: the braces put each fact in its own
--         Cluster slot, so this script never touches two slots and is pipelined beside the
--         store's own apply_event.lua call.
-- ARGV[1] member (a store id, or an order id), ARGV[2] its value ('' keeps a known value),
-- ARGV[3] cap on members, ARGV[4] ttl in seconds.
--
-- Memory is bounded: past the cap a new member is not recorded (the fact is already shared by
-- `cap` members, which is all a detector needs to know), and the key expires `ttl` seconds
-- after its last touch. The field '~ring' holds the ring id once a member was alerted.
-- Returns one JSON object {member: value, ..., '~ring': id}.

local member, value = ARGV[1], ARGV[2]
local cap, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local known = redis.call('HGET', KEYS[1], member)
if known then
  if value ~= '' and value ~= known then redis.call('HSET', KEYS[1], member, value) end
elseif redis.call('HLEN', KEYS[1]) < cap + 1 then
  redis.call('HSET', KEYS[1], member, value)
end
redis.call('EXPIRE', KEYS[1], ttl)
local flat = redis.call('HGETALL', KEYS[1])
local result = {}
for i = 1, #flat, 2 do result[flat[i]] = flat[i + 1] end
return cjson.encode(result)
