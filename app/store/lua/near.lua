-- What a domain holds near a point, in one round trip: the places of its GEO index within a
-- radius (nearest first), and the records and newest readings of those and of extra ids (moving
-- things, which the GEO index does not hold).
-- KEYS: geo, live, then one latest:<metric> hash per metric.
-- ARGV: lon, lat, radius in metres (negative: no search), count (0: all), then extra ids.
-- Returns {ids, distances (metres, '' for extra ids), records, then one reading list per metric}.
local ids, dists = {}, {}
local radius = tonumber(ARGV[3])
if radius >= 0 then
  local args = {'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', radius, 'm', 'ASC', 'WITHDIST'}
  if tonumber(ARGV[4]) > 0 then
    args[#args + 1] = 'COUNT'; args[#args + 1] = ARGV[4]
  end
  for _, hit in ipairs(redis.call('GEOSEARCH', KEYS[1], unpack(args))) do
    ids[#ids + 1] = hit[1]; dists[#dists + 1] = hit[2]
  end
end
for i = 5, #ARGV do
  ids[#ids + 1] = ARGV[i]; dists[#dists + 1] = ''
end
local out = {ids, dists}
if #ids == 0 then
  out[3] = {}
  for k = 3, #KEYS do out[#out + 1] = {} end
  return out
end
out[3] = redis.call('HMGET', KEYS[2], unpack(ids))
for k = 3, #KEYS do
  out[#out + 1] = redis.call('HMGET', KEYS[k], unpack(ids))
end
return out
