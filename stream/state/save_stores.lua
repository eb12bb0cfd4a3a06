-- Save the stores a worker changed since its last save, in one call: KEYS[i] gets ARGV[i + 1]
-- (a store's blob), expiring ARGV[1] seconds from now. One script call instead of one SET per
-- store, because the client's work on a pipeline of hundreds of commands (packing each SET,
-- parsing each reply) cost several times more than this one call (docs/performance.md, "The
-- save, measured alone").
--
-- An error (a refused write) stops the script at that key and is the call's reply, so the
-- caller sees it before it writes the decided offsets; the stores before the failed one are
-- saved, the others are not, and the caller repeats the whole save. On a Redis Cluster the keys
-- of a call must share a slot and every store has a slot of its own, so stream.state.state
-- saves with a pipeline of SETs there instead.
--
-- Returns the number of stores saved.

local ttl_s = ARGV[1]
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i + 1], 'EX', ttl_s)
end
return #KEYS
