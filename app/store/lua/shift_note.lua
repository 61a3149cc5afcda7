-- Writes a note to the shift log if its author is on duty.
-- KEYS: on-duty hash, log stream, meta hash. ARGV: user, now, text, notable (0/1), kind.
-- Returns {'ok', entry id} or {'off_duty'}.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {'off_duty'} end
local id = redis.call('XADD', KEYS[2], '*', 'at', ARGV[2], 'actor', ARGV[1], 'kind', ARGV[5],
                      'text', ARGV[3], 'notable', ARGV[4])
redis.call('HINCRBY', KEYS[3], 'version', 1)
return {'ok', id}
