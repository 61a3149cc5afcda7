-- Shared by every alert lifecycle script (loaded in front of them). KEYS: the alert hash, its
-- timeline stream, the index, the open set, the meta hash, the alerts' change stream. ARGV begins
-- with id, now, actor, addr. log() writes the timeline entry in the same step as the change it
-- records, and the step to the change stream that webhooks and e-mail are sent from (trimmed to
-- about 100,000 steps: days of a busy city, for a dispatcher that was down meanwhile); touch()
-- moves the alert's state and version, its place in the index and open set, the alerts' version.
local id, now, actor, addr = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function log(action, state, detail)
  redis.call('XADD', KEYS[2], '*', 'at', now, 'actor', actor, 'action', action, 'addr', addr,
             'state', state, 'detail', detail)
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', 100000, '*', 'id', id, 'action', action,
             'state', state, 'at', now)
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
