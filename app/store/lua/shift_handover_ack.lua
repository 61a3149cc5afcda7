-- The incoming shift acknowledges a handover sheet: once, by someone on duty who did not write it.
-- KEYS: handover hash, on-duty hash, log stream, meta hash. ARGV: id, user, now, note.
-- Returns {'ok'}, {'missing'}, {'off_duty'}, {'own'} or {'conflict', by, at}.
local id, user, now, note = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local f = redis.call('HMGET', KEYS[1], 'created_by', 'acknowledged_by', 'acknowledged_at')
if not f[1] then return {'missing'} end
if f[2] and f[2] ~= '' then return {'conflict', f[2], f[3] or ''} end
if redis.call('HEXISTS', KEYS[2], user) == 0 then return {'off_duty'} end
if f[1] == user then return {'own'} end
redis.call('HSET', KEYS[1], 'acknowledged_by', user, 'acknowledged_at', now, 'ack_note', note)
redis.call('XADD', KEYS[3], '*', 'at', now, 'actor', user, 'kind', 'handover_ack', 'text', note,
           'notable', '0', 'handover', id)
redis.call('HINCRBY', KEYS[4], 'version', 1)
return {'ok'}
