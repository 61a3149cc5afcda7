-- Shared by every alert lifecycle script (loaded in front of them). KEYS: the alert hash, its
-- timeline stream, the index, the open set, the meta hash. ARGV begins with id, now, actor, addr.
-- log() writes the timeline entry in the same step as the change it records; touch() moves the
-- alert's state and version, its place in the index and open set, and the alerts' version.
local id, now, actor, addr = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function log(action, state, detail)
  redis.call('XADD', KEYS[2], '*', 'at', now, 'actor', actor, 'action', action, 'addr', addr,
             'state', state, 'detail', detail)
end
local function touch(state)
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  redis.call('HSET', KEYS[1], 'state', state, 'updated_at', now)
  redis.call('ZADD', KEYS[3], now, id)
  if state == 'cleared_ack' then
    redis.call('ZREM', KEYS[4], id)
  else
    redis.call('ZADD', KEYS[4], now, id)
  end
  redis.call('HINCRBY', KEYS[5], 'version', 1)
end
