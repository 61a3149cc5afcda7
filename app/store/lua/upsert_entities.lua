-- Upserts a batch of entities of one feed. Older data never overwrites newer (per-entity time
-- check against the domain's times map; within a batch too); a full dataset retires the feed's
-- entities of that kind it no longer lists. One script, so a reader never sees half a batch.
-- KEYS: live, live_times (the feed's), geo, feed_entities, meta, feed_entities_digest, the
-- per-domain times map of an earlier CityOps
-- ARGV: full (0/1), now, batch, indexed (0/1: keep the GEO set for this kind), digest of the
-- batch's id set (full batches), the feed's id prefix. The batch is one MessagePack array of five columns: ids, times,
-- lons, lats (false without a position; both empty for kinds not GEO-indexed), packed JSON (a
-- list, or one body of the entities joined by commas, see entities._packed_entities). One
-- argument instead of five per entity (encoding 100,000 arguments in redis-py costs more than the
-- whole write); Redis's own C MessagePack decoder hands the columns to the script as they are.
-- Returns {accepted, older, retired}.
local full = ARGV[1] == '1'
local indexed = ARGV[4] == '1'
local cols = cmsgpack.unpack(ARGV[3])
local CHUNK = 2000
local ids, tss, lons, lats, packs = cols[1], cols[2], cols[3], cols[4], cols[5]
local n = #ids
if type(packs) == 'string' then
  -- One JSON body: cut it where one entity ends and the next begins (checked by the caller).
  local body, list, pos = packs, {}, 1
  for i = 1, n - 1 do
    local e = string.find(body, '},{"domain":', pos, true)
    list[i] = string.sub(body, pos, e)
    pos = e + 2
  end
  list[n] = string.sub(body, pos)
  packs = list
end

local times = times_of(KEYS[2], KEYS[7], ARGV[6])
local accepted, older = 0, 0
local live, geo, nogeo = {}, {}, {}
for i = 1, n do
  local id = ids[i]
  local p = times[id]
  if p and p > tss[i] then
    older = older + 1
  else
    accepted = accepted + 1
    live[#live + 1] = id; live[#live + 1] = packs[i]
    times[id] = tss[i]
    if indexed then
      if lons[i] then
        geo[#geo + 1] = lons[i]; geo[#geo + 1] = lats[i]; geo[#geo + 1] = id
      else
        nogeo[#nogeo + 1] = id
      end
    end
  end
end
local function chunked(cmd, key, args, width)
  local step = CHUNK * width
  for c = 1, #args, step do
    redis.call(cmd, key, unpack(args, c, math.min(c + step - 1, #args)))
  end
end
chunked('HSET', KEYS[1], live, 2)
if indexed then
  chunked('GEOADD', KEYS[3], geo, 3)
  chunked('ZREM', KEYS[3], nogeo, 1)
end
local retired = 0
if full then
  -- A full listing of the same ids as the last one (the steady state of a fleet) has nothing
  -- to retire and leaves the id set as it is: skip reading and rewriting 20,000 members.
  if redis.call('GET', KEYS[6]) ~= ARGV[5] then
    local seen = {}
    for i = 1, n do seen[ids[i]] = true end
    local gone = {}
    for _, id in ipairs(feed_ids(KEYS[4])) do
      if not seen[id] then gone[#gone + 1] = id end
    end
    retired = #gone
    chunked('HDEL', KEYS[1], gone, 1)
    for _, id in ipairs(gone) do times[id] = nil end
    chunked('ZREM', KEYS[3], gone, 1)
    redis.call('SET', KEYS[4], cmsgpack.pack(ids))
    redis.call('SET', KEYS[6], ARGV[5])
  end
else
  local list = feed_ids(KEYS[4])
  local seen = {}
  for _, id in ipairs(list) do seen[id] = true end
  for i = 1, n do
    if not seen[ids[i]] then seen[ids[i]] = true; list[#list + 1] = ids[i] end
  end
  redis.call('SET', KEYS[4], cmsgpack.pack(list))
  redis.call('DEL', KEYS[6])
end
if accepted > 0 or retired > 0 then
  redis.call('SET', KEYS[2], cmsgpack.pack(times))
  redis.call('HINCRBY', KEYS[5], 'version', 1)
  redis.call('HSET', KEYS[5], 'updated_at', ARGV[2])
end
return {accepted, older, retired}
