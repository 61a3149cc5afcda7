-- Raises an alert. ARGV: id, now, actor, addr, fingerprint, then field/value pairs describing it.
-- Returns {outcome, state}: created, repeated (still active: count and last_seen bumped),
-- reopened (it had cleared: the same alert is active and unacknowledged again) or collision.
local fp = ARGV[5]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'id', id, 'fingerprint', fp, 'count', 1, 'first_seen', now,
    'last_seen', now, 'opened_at', now, 'version', 0, 'escalated', '0', 'escalated_at', '',
    'acked_by', '', 'acked_at', '', 'ack_note', '', 'assignee', '', 'assigned_by', '',
    'assigned_at', '', 'cleared_at', '', 'closed_by', '', 'closed_at', '', 'resolved_by', '',
    'resolved_at', '', 'notes', 0, 'created_by', actor)
  redis.call('HSET', KEYS[1], unpack(ARGV, 6))
  touch('active_unack')
  log('raised', 'active_unack', '')
  return {'created', 'active_unack'}
end
if redis.call('HGET', KEYS[1], 'fingerprint') ~= fp then
  return {'collision', state}
end
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last_seen', now)
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
if state == 'active_unack' or state == 'active_ack' then
  touch(state)
  log('repeated', state, '')
  return {'repeated', state}
end
redis.call('HSET', KEYS[1], 'opened_at', now, 'escalated', '0', 'escalated_at', '', 'acked_by', '',
  'acked_at', '', 'ack_note', '', 'cleared_at', '', 'closed_by', '', 'closed_at', '',
  'resolved_by', '', 'resolved_at', '')
touch('active_unack')
log('reopened', 'active_unack', '')
return {'reopened', 'active_unack'}
