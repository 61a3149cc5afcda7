-- Helpers shared by the live-data scripts (loaded in front of them).
-- times_of: each live entity's observation time is one MessagePack map (id -> time) per domain in a
-- string; decoding and re-encoding it in C costs less than 20,000 HMGET and HSET field operations,
-- and a third of a hash's memory. It reads the hash an earlier CityOps left there, and removes it.
-- feed_ids: the ids a feed last listed, per kind: one MessagePack array in a string (a set costs
-- three times the memory per id, and is only read when a full listing differs from the last).
-- It also reads the set an earlier CityOps left there, and removes it.
-- Each live entity's observation time: one MessagePack map (id -> time) per domain in a string.
-- Decoding and re-encoding it in C costs less than 20,000 HMGET and HSET field operations, and a
-- third of a hash's memory. Reads the hash an earlier CityOps left there, and removes it.
local function times_of(key)
  if redis.call('TYPE', key).ok == 'hash' then
    local flat = redis.call('HGETALL', key)
    local t = {}
    for i = 1, #flat, 2 do t[flat[i]] = tonumber(flat[i + 1]) end
    redis.call('DEL', key)
    return t
  end
  local packed = redis.call('GET', key)
  if not packed then return {} end
  return cmsgpack.unpack(packed)
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
