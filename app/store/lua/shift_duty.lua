-- Signs a user on or off duty and writes the shift log, in one step.
-- KEYS: on-duty hash, log stream, meta hash. ARGV: action ("on"/"off"), user, now, role.
-- Returns {'ok', since} or {'noop', since} (already on duty / not on duty: since is '' then).
local action, user, now, role = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local held = redis.call('HGET', KEYS[1], user)
local since = ''
if held then since = cjson.decode(held).since end
if action == 'on' then
  if held then return {'noop', tostring(since)} end
  redis.call('HSET', KEYS[1], user, cjson.encode({since = tonumber(now), role = role}))
  redis.call('XADD', KEYS[2], '*', 'at', now, 'actor', user, 'kind', 'sign_on', 'text', '',
             'notable', '0')
else
  if not held then return {'noop', ''} end
  redis.call('HDEL', KEYS[1], user)
  redis.call('XADD', KEYS[2], '*', 'at', now, 'actor', user, 'kind', 'sign_off', 'text', '',
             'notable', '0')
end
redis.call('HINCRBY', KEYS[3], 'version', 1)
return {'ok', tostring(since)}
