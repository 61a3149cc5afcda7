-- Stores a domain's map snapshot unless a newer one is there, with the parts it references, and
-- drops parts neither this snapshot nor the previous one references (a reader between the two
-- still finds its parts). Answers the referenced digests it lacks, so a writer that assumed a part
-- was stored (Redis lost it) sends it again.
-- KEYS: meta, map, parts. ARGV: version, snapshot, referenced digests (space-separated), then
-- digest/part pairs. Returns {1} stored, {0} a newer one is there, {2, digest...} parts missing.
local v = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'map_version') or '0')
if cur >= v then return {0} end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
local missing = {}
local keep = {}
for d in string.gmatch(ARGV[3], '%S+') do
  keep[d] = true
  if redis.call('HEXISTS', KEYS[3], d) == 0 then missing[#missing + 1] = d end
end
if #missing > 0 then return {2, unpack(missing)} end
for d in string.gmatch(redis.call('HGET', KEYS[1], 'map_parts') or '', '%S+') do keep[d] = true end
for _, d in ipairs(redis.call('HKEYS', KEYS[3])) do
  if not keep[d] then redis.call('HDEL', KEYS[3], d) end
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'map_version', v, 'map_parts', ARGV[3])
return {1}
