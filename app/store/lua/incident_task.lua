-- One step on a task. KEYS: 1 the task hash, 2 its incident's hash, 3 the incident's timeline,
-- 4 the incidents' index, 5 the meta hash, 6 the open tasks, 7 the task set of the department the
-- caller read the task in, 8 the task set of the department it moves to (reassign; else as 7).
-- ARGV: task id, now, actor, addr, action, text, arg, expected, department (as the caller read
-- it), owner. Actions: take (text: note), finish (text: note), cannot (text: reason), note (text),
-- reassign (arg: department, owner: who gets it or '', expected: the owner the caller saw),
-- escalate and auto (the system: overdue once; the step's own action done).
-- Returns {'ok', state}, {'noop', state}, {'missing'}, {'retry'} (the department changed since
-- the caller read it) or {'conflict', reason, why, by, at}: taking a task someone else holds
-- names who took it and when.
local tid, now, actor, addr = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local action, text, arg, expected, department, owner = ARGV[5], ARGV[6], ARGV[7], ARGV[8],
                                                       ARGV[9], ARGV[10]
local t = redis.call('HMGET', KEYS[1], 'state', 'owner', 'taken_at', 'done_by', 'done_at',
                     'cannot_by', 'cannot_at', 'department', 'incident', 'escalated', 'due_at',
                     'reassigned_by', 'reassigned_at')
local state = t[1]
if not state then
  return {'missing'}
end
if t[8] ~= department then
  return {'retry'}
end
local incident = redis.call('HMGET', KEYS[2], 'status', 'closed_by', 'closed_at')
local closed = incident[1] == 'closed'
local open = state == 'open' or state == 'accepted'
local function conflict(reason, why, by, at)
  return {'conflict', reason, why, by or '', at or ''}
end
local function finished()
  if state == 'done' then
    return conflict('done', 'already done', t[4], t[5])
  end
  return conflict('cannot', 'already reported as cannot do', t[6], t[7])
end
local function log(name, detail, note)
  redis.call('XADD', KEYS[3], '*', 'at', now, 'actor', actor, 'action', name, 'addr', addr,
             'task', tid, 'alert', '', 'detail', detail or '', 'note', note or '')
end
local function off_the_lists()
  redis.call('ZREM', KEYS[6], tid)
  redis.call('ZREM', KEYS[7], tid)
end
if action == 'escalate' or action == 'auto' then
  if closed or not open then
    return {'noop', state}
  end
  if action == 'escalate' then
    if t[10] == '1' or tonumber(t[11]) > tonumber(now) then
      return {'noop', state}
    end
    redis.call('HSET', KEYS[1], 'escalated', '1', 'escalated_at', now)
    log('task_escalated', t[11])
  else
    if state ~= 'open' then
      return {'noop', state}
    end
    state = 'done'
    redis.call('HSET', KEYS[1], 'state', state, 'done_by', actor, 'done_at', now, 'auto', '1')
    off_the_lists()
    log('task_auto', arg)
  end
elseif action == 'note' then
  redis.call('HINCRBY', KEYS[1], 'notes', 1)
  log('task_note', '', text)
else
  if closed then
    return conflict('closed', 'the incident is closed', incident[2], incident[3])
  end
  if not open then
    return finished()
  end
  if action == 'take' then
    if state == 'accepted' then
      if t[2] == actor then
        return conflict('yours', 'already yours', t[2], t[3])
      end
      return conflict('taken', 'taken by ' .. t[2], t[2], t[3])
    end
    state = 'accepted'
    redis.call('HSET', KEYS[1], 'state', state, 'owner', actor, 'taken_at', now)
    log('task_taken', '', text)
  elseif action == 'finish' then
    if t[2] == '' then
      redis.call('HSET', KEYS[1], 'owner', actor, 'taken_at', now)
    end
    state = 'done'
    redis.call('HSET', KEYS[1], 'state', state, 'done_by', actor, 'done_at', now)
    off_the_lists()
    log('task_done', '', text)
  elseif action == 'cannot' then
    state = 'cannot'
    redis.call('HSET', KEYS[1], 'state', state, 'cannot_by', actor, 'cannot_at', now,
               'reason', text)
    off_the_lists()
    log('task_cannot', '', text)
  elseif action == 'reassign' then
    if t[2] ~= expected then
      return conflict('taken', 'taken by ' .. t[2] .. ' meanwhile', t[2], t[3])
    end
    if arg == t[8] and owner == t[2] then
      return conflict('already', 'already with that department', t[12], t[13])
    end
    local taken_at = ''
    state = 'open'
    if owner ~= '' then
      state, taken_at = 'accepted', now
    end
    redis.call('ZREM', KEYS[7], tid)
    redis.call('ZADD', KEYS[8], t[11], tid)
    redis.call('HSET', KEYS[1], 'department', arg, 'owner', owner, 'state', state,
               'taken_at', taken_at, 'reassigned_by', actor, 'reassigned_at', now)
    log('task_reassigned', arg, text)
  else
    return {'error', 'unknown action ' .. action}
  end
end
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'updated_at', now, 'updated_by', actor)
redis.call('ZADD', KEYS[4], now, t[9])
redis.call('HINCRBY', KEYS[5], 'version', 1)
return {'ok', state}
