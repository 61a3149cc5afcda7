-- Adds a step (a task) to an open incident. KEYS[1..5] as the prelude says, then 6 the
-- incident's task set, 7 the open tasks, 8 the new task's hash, 9 its department's task set.
-- ARGV: id, now, actor, addr, JSON {id, fields}, the most tasks an incident may have.
-- Returns {'ok', status}, {'missing'}, {'full'} or {'conflict', reason, why, by, at}.
local task, most = cjson.decode(ARGV[5]), tonumber(ARGV[6])
local f = redis.call('HMGET', KEYS[1], 'status', 'closed_by', 'closed_at')
if not f[1] then
  return {'missing'}
end
if f[1] == 'closed' then
  return conflict('closed', 'the incident is closed', f[2], f[3])
end
local count = redis.call('ZCARD', KEYS[6])
if count >= most then
  return {'full'}
end
write_task(KEYS[8], task, count + 1, KEYS[6], KEYS[7], KEYS[9])
touch(f[1], false)
log('step_added', task.fields.title, {task = task.id})
return {'ok', f[1]}
