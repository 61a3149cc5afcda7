-- Shared by the incident scripts that change one incident (loaded in front of them). KEYS[1..5]:
-- the incident hash, its timeline stream, the incidents' index, their open set, the meta hash.
-- ARGV begins with id, now, actor, addr. log() writes the timeline entry in the same step as the
-- change it records; touch() moves the incident's place in the index and open set and the
-- incidents' version (and, for a change of the incident itself, its own version); conflict()
-- answers the loser of a race from the same atomic read: why, who acted and when.
local id, now, actor, addr = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function log(action, detail, extra)
  extra = extra or {}
  redis.call('XADD', KEYS[2], '*', 'at', now, 'actor', actor, 'action', action, 'addr', addr,
             'task', extra.task or '', 'alert', extra.alert or '', 'detail', detail or '',
             'note', extra.note or '')
end
local function touch(status, own)
  if own then
    redis.call('HINCRBY', KEYS[1], 'version', 1)
    redis.call('HSET', KEYS[1], 'updated_at', now, 'updated_by', actor)
  end
  redis.call('ZADD', KEYS[3], now, id)
  if status == 'closed' then
    redis.call('ZREM', KEYS[4], id)
  else
    redis.call('ZADD', KEYS[4], now, id)
  end
  redis.call('HINCRBY', KEYS[5], 'version', 1)
end
local function conflict(reason, why, by, at)
  return {'conflict', reason, why, by or '', at or ''}
end
local function field(name)
  return redis.call('HGET', KEYS[1], name) or ''
end
local function flatten(fields)
  local flat = {}
  for key, value in pairs(fields) do
    flat[#flat + 1] = key
    flat[#flat + 1] = tostring(value)
  end
  return flat
end
-- A task as declaring or adding a step writes it: its fields, then the common ones.
local function write_task(key, task, order, tasks_key, open_key, department_key)
  redis.call('HSET', key, unpack(flatten(task.fields)))
  redis.call('HSET', key, 'id', task.id, 'incident', id, 'state', 'open', 'owner', '',
             'taken_at', '', 'done_by', '', 'done_at', '', 'cannot_by', '', 'cannot_at', '',
             'reason', '', 'notes', 0, 'escalated', '0', 'escalated_at', '', 'left_open', '0',
             'order', order, 'created_at', now, 'created_by', actor, 'updated_at', now,
             'updated_by', actor, 'version', 1)
  redis.call('ZADD', tasks_key, order, task.id)
  redis.call('ZADD', open_key, task.fields.due_at, task.id)
  redis.call('ZADD', department_key, task.fields.due_at, task.id)
end
