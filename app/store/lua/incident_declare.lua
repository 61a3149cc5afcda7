-- Declares an incident with its tasks and linked alerts, in one step. KEYS[1..5] as the prelude
-- says, then 6 the incident's task set, 7 its alerts, 8 the linked-alerts map, 9 the open tasks,
-- 10 the proposal it comes from (any proposal key when none), 11 pending proposals, 12 the
-- proposals' index, then a task hash and its department's task set for each task.
-- ARGV: id, now, actor, addr, JSON {fields, alerts: [[id, title]], tasks: [{id, fields}], proposal}.
-- Returns {'ok', number}, {'exists'}, {'missing_proposal'} or {'conflict', reason, why, by, at}:
-- an alert already linked to an open incident, or a proposal someone judged first.
local spec = cjson.decode(ARGV[5])
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end
if spec.proposal ~= '' then
  local p = redis.call('HMGET', KEYS[10], 'state', 'judged_by', 'judged_at')
  if not p[1] then
    return {'missing_proposal'}
  end
  if p[1] ~= 'pending' then
    return conflict('proposal_' .. p[1], 'the proposal was ' .. p[1], p[2], p[3])
  end
end
for _, alert in ipairs(spec.alerts) do
  local held = redis.call('HGET', KEYS[8], alert[1])
  if held then
    local other = cjson.decode(held)
    return conflict('linked_elsewhere', 'an alert is linked to incident #' .. other.number,
                    other.by, other.at)
  end
end
local number = redis.call('HINCRBY', KEYS[5], 'seq', 1)
redis.call('HSET', KEYS[1], unpack(flatten(spec.fields)))
redis.call('HSET', KEYS[1], 'id', id, 'number', number, 'status', 'declared', 'declared_by', actor,
           'declared_at', now, 'status_by', actor, 'status_at', now, 'level_by', actor,
           'level_at', now, 'commander_by', actor, 'commander_at', now, 'area_by', actor,
           'area_at', now, 'public_by', '', 'public_at', '', 'closed_by', '', 'closed_at', '',
           'notes', 0, 'version', 1, 'updated_at', now, 'updated_by', actor,
           'proposal', spec.proposal)
touch('declared', false)
log('declared', spec.fields.title)
for _, alert in ipairs(spec.alerts) do
  redis.call('HSET', KEYS[7], alert[1],
             cjson.encode({state = 'linked', by = actor, at = now, how = 'declared'}))
  redis.call('HSET', KEYS[8], alert[1],
             cjson.encode({incident = id, number = number, by = actor, at = now}))
  log('linked', alert[2], {alert = alert[1]})
end
for i, task in ipairs(spec.tasks) do
  write_task(KEYS[11 + 2 * i], task, i, KEYS[6], KEYS[9], KEYS[12 + 2 * i])
end
if spec.proposal ~= '' then
  redis.call('HSET', KEYS[10], 'state', 'accepted', 'judged_by', actor, 'judged_at', now,
             'incident', id)
  redis.call('ZREM', KEYS[11], spec.proposal)
  redis.call('ZADD', KEYS[12], now, spec.proposal)
end
return {'ok', tostring(number)}
