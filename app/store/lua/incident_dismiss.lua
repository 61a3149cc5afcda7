-- Dismisses a pending proposal. KEYS: 1 the proposal hash, 2 pending proposals, 3 the proposals'
-- index, 4 the incidents' meta hash. ARGV: proposal id, now, actor, reason.
-- Returns {'ok'}, {'missing'} or {'conflict', reason, why, by, at} when someone judged it first.
local pid, now, actor, reason = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local p = redis.call('HMGET', KEYS[1], 'state', 'judged_by', 'judged_at')
if not p[1] then
  return {'missing'}
end
if p[1] ~= 'pending' then
  return {'conflict', 'proposal_' .. p[1], 'the proposal was ' .. p[1], p[2] or '', p[3] or ''}
end
redis.call('HSET', KEYS[1], 'state', 'dismissed', 'judged_by', actor, 'judged_at', now,
           'reason', reason, 'updated_at', now)
redis.call('ZREM', KEYS[2], pid)
redis.call('ZADD', KEYS[3], now, pid)
redis.call('HINCRBY', KEYS[4], 'version', 1)
return {'ok'}
