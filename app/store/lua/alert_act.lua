-- One lifecycle step. ARGV: id, now, actor, addr, action, text, arg, expected.
-- ack (text: note), assign (arg: the new assignee; expected: the assignee the caller saw),
-- claim (the actor takes an alert nobody holds), takeover (expected: the holder confirmed),
-- note (text), resolve (text: note), clear, escalate (arg: the severity's deadline in seconds).
-- Returns {'ok', state}, {'noop', state}, {'missing'} or {'conflict', why, by, at}: two people
-- acting at once meet one winner, and the loser is answered from the same atomic read.
local action, text, arg, expected = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local f = redis.call('HMGET', KEYS[1], 'state', 'acked_by', 'acked_at', 'assignee', 'assigned_by',
                     'assigned_at', 'closed_by', 'closed_at', 'escalated', 'opened_at', 'cleared_at')
local state = f[1]
if not state then
  return {'missing'}
end
local function conflict(why, by, at)
  return {'conflict', why, by or '', at or ''}
end
local new = state
if action == 'ack' then
  if state == 'active_unack' then
    new = 'active_ack'
  elseif state == 'cleared_unack' then
    new = 'cleared_ack'
    redis.call('HSET', KEYS[1], 'closed_by', actor, 'closed_at', now)
  else
    return conflict('already acknowledged', f[2], f[3])
  end
  redis.call('HSET', KEYS[1], 'acked_by', actor, 'acked_at', now, 'ack_note', text)
elseif action == 'assign' then
  if state == 'cleared_ack' then
    return conflict('the alert is closed', f[7], f[8])
  end
  if f[4] == arg then
    return conflict('already assigned to ' .. arg, f[5], f[6])
  end
  if f[4] ~= '' and f[4] ~= expected then
    return conflict('assigned to ' .. f[4] .. ' meanwhile', f[5], f[6])
  end
  redis.call('HSET', KEYS[1], 'assignee', arg, 'assigned_by', actor, 'assigned_at', now)
  text = arg
elseif action == 'claim' then
  -- Claiming never takes an alert from its holder: that is 'takeover', asked for on purpose.
  if state == 'cleared_ack' then
    return conflict('the alert is closed', f[7], f[8])
  end
  if f[4] == actor then
    return conflict('already assigned to ' .. actor, f[5], f[6])
  end
  if f[4] ~= '' then
    return conflict('held by ' .. f[4], f[4], f[6])
  end
  redis.call('HSET', KEYS[1], 'assignee', actor, 'assigned_by', actor, 'assigned_at', now)
  text = actor
elseif action == 'takeover' then
  -- expected: the holder the person confirmed taking it from; anyone else meanwhile is a conflict.
  if state == 'cleared_ack' then
    return conflict('the alert is closed', f[7], f[8])
  end
  if f[4] == actor then
    return conflict('already assigned to ' .. actor, f[5], f[6])
  end
  if f[4] ~= '' and f[4] ~= expected then
    return conflict('assigned to ' .. f[4] .. ' meanwhile', f[5], f[6])
  end
  redis.call('HSET', KEYS[1], 'assignee', actor, 'assigned_by', actor, 'assigned_at', now)
  text = f[4]
elseif action == 'note' then
  redis.call('HINCRBY', KEYS[1], 'notes', 1)
elseif action == 'resolve' then
  if state == 'cleared_ack' then
    return conflict('already closed', f[7], f[8])
  end
  new = 'cleared_ack'
  redis.call('HSET', KEYS[1], 'resolved_by', actor, 'resolved_at', now, 'closed_by', actor,
             'closed_at', now)
  if f[11] == '' then redis.call('HSET', KEYS[1], 'cleared_at', now) end
  if f[2] == '' then redis.call('HSET', KEYS[1], 'acked_by', actor, 'acked_at', now) end
elseif action == 'clear' then
  if state == 'active_unack' then
    new = 'cleared_unack'
  elseif state == 'active_ack' then
    new = 'cleared_ack'
    redis.call('HSET', KEYS[1], 'closed_by', actor, 'closed_at', now)
  else
    return {'noop', state}
  end
  redis.call('HSET', KEYS[1], 'cleared_at', now)
elseif action == 'escalate' then
  if state ~= 'active_unack' or f[9] == '1'
     or tonumber(f[10]) + tonumber(arg) > tonumber(now) then
    return {'noop', state}
  end
  redis.call('HSET', KEYS[1], 'escalated', '1', 'escalated_at', now)
  text = arg
else
  return {'error', 'unknown action ' .. action}
end
touch(new)
log(action, new, text)
return {'ok', new}
