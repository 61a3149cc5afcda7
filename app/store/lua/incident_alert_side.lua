-- The alert's side of a link to an incident, in the alerts' slot: the alert's timeline says it
-- was linked to (or unlinked from) an incident, and the alerts' version moves so screens see it.
-- KEYS: 1 the alert hash, 2 its timeline, 3 the alerts' meta hash. ARGV: now, actor, addr,
-- action, detail. Returns {'ok'} or {'missing'}.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  return {'missing'}
end
redis.call('XADD', KEYS[2], '*', 'at', ARGV[1], 'actor', ARGV[2], 'action', ARGV[4],
           'addr', ARGV[3], 'state', state, 'detail', ARGV[5])
redis.call('HINCRBY', KEYS[3], 'version', 1)
return {'ok'}
