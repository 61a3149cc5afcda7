-- Retires a feed's entities of one kind whose status is ARGV[1] and whose time is before ARGV[2]
-- (a retention limit: closed service requests). Only the old ones are decoded, so a pass over
-- 30,000 requests of which few expire costs little more than reading the times map.
-- KEYS: live, live_times (the feed's), geo, feed_entities, meta, feed_entities_digest, the
-- per-domain times map of an earlier CityOps
-- ARGV: status, cutoff time, now, the feed's id prefix. Returns how many went.
local cutoff = tonumber(ARGV[2])
local times = times_of(KEYS[2], KEYS[7], ARGV[4])
local kept, gone = {}, {}
for _, id in ipairs(feed_ids(KEYS[4])) do
  local t = times[id]
  local expired = false
  if t and t < cutoff then
    local packed = redis.call('HGET', KEYS[1], id)
    if packed then
      local ok, record = pcall(cjson.decode, packed)
      expired = ok and type(record) == 'table' and record.status == ARGV[1]
    end
  end
  if expired then gone[#gone + 1] = id else kept[#kept + 1] = id end
end
if #gone == 0 then return 0 end
for c = 1, #gone, 2000 do
  local last = math.min(c + 1999, #gone)
  redis.call('HDEL', KEYS[1], unpack(gone, c, last))
  redis.call('ZREM', KEYS[3], unpack(gone, c, last))
end
for _, id in ipairs(gone) do times[id] = nil end
redis.call('SET', KEYS[2], cmsgpack.pack(times))
redis.call('SET', KEYS[4], cmsgpack.pack(kept))
redis.call('DEL', KEYS[6])
redis.call('HINCRBY', KEYS[5], 'version', 1)
redis.call('HSET', KEYS[5], 'updated_at', ARGV[3])
return #gone
