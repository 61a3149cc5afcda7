-- Helpers shared by the live-data scripts (loaded in front of them).
-- times_of: each live entity's observation time, one MessagePack map (id -> time) per feed in a
-- string. Decoding and re-encoding it in C costs less than 20,000 HMGET and HSET field operations,
-- and a third of a hash's memory; one map per feed (not per domain) keeps a batch's cost that of
-- its own feed in a city of several large fleets. Without the feed's map it starts from the
-- feed's entries of the per-domain map an earlier CityOps kept (a string, or a hash before that;
-- ids start with the feed's name), which then expires within a day, once every feed took its part.
-- feed_ids: the ids a feed last listed, per kind: one MessagePack array in a string (a set costs
-- three times the memory per id, and is only read when a full listing differs from the last).
-- It also reads the set an earlier CityOps left there, and removes it.
local function decoded_times(key)
  local kind = redis.call('TYPE', key).ok
  if kind == 'hash' then
    local flat = redis.call('HGETALL', key)
    local t = {}
    for i = 1, #flat, 2 do t[flat[i]] = tonumber(flat[i + 1]) end
    return t
  elseif kind == 'string' then
    return cmsgpack.unpack(redis.call('GET', key))
  end
  return nil
end
local function times_of(key, legacy, prefix)
  local packed = redis.call('GET', key)
  if packed then return cmsgpack.unpack(packed) end
  local old = decoded_times(legacy)
  if not old then return {} end
  local t, n = {}, #prefix
  for id, at in pairs(old) do
    if string.sub(id, 1, n) == prefix then t[id] = at end
  end
  redis.call('EXPIRE', legacy, 86400)
  return t
end
local function feed_ids(key)
  if redis.call('TYPE', key).ok == 'set' then
    local members = redis.call('SMEMBERS', key)
    redis.call('DEL', key)
    return members
  end
  local packed = redis.call('GET', key)
  if not packed then return {} end
  return cmsgpack.unpack(packed)
end
