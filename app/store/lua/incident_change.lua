-- Changes an incident: status, level, commander, area, public flag, or a note. KEYS[1..5] as the
-- prelude says, then 6 the linked-alerts map, 7 the incident's alerts, 8 the open tasks, 9 the
-- incident's task set, then the hash of each of its tasks and the task set of each department.
-- ARGV: id, now, actor, addr, action, value, note, version (the incident version the caller saw,
-- or ''), allowed (statuses the new status may be reached from, comma-separated), n_tasks,
-- n_departments, the task ids, the department names.
-- Closing takes the incident's open tasks off the departments' lists and frees its alerts for
-- other incidents. Returns {'ok', status}, {'missing'}, {'retry'} (a task or department the
-- caller did not pass: read again) or {'conflict', reason, why, by, at}.
local action, value, note, version, allowed = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local f = redis.call('HMGET', KEYS[1], 'status', 'version', 'updated_by', 'updated_at',
                     'closed_by', 'closed_at')
local status = f[1]
if not status then
  return {'missing'}
end
if action == 'note' then
  redis.call('HINCRBY', KEYS[1], 'notes', 1)
  touch(status, false)
  log('note', note)
  return {'ok', status}
end
if status == 'closed' then
  return conflict('closed', 'the incident is closed', f[5], f[6])
end
if version ~= '' and version ~= f[2] then
  return conflict('stale', 'the incident changed meanwhile', f[3], f[4])
end
local detail = value
if action == 'status' then
  if value == status then
    return conflict('already', 'already ' .. value, field('status_by'), field('status_at'))
  end
  if not string.find(',' .. allowed .. ',', ',' .. status .. ',', 1, true) then
    return conflict('transition', 'the incident is ' .. status, field('status_by'),
                    field('status_at'))
  end
  if value == 'closed' then
    local n_tasks, n_departments = tonumber(ARGV[10]), tonumber(ARGV[11])
    local tasks, departments = {}, {}
    for i = 1, n_tasks do
      tasks[ARGV[11 + i]] = KEYS[9 + i]
    end
    for i = 1, n_departments do
      departments[ARGV[11 + n_tasks + i]] = KEYS[9 + n_tasks + i]
    end
    local ids = redis.call('ZRANGE', KEYS[9], 0, -1)
    local open = {}
    for _, task in ipairs(ids) do
      if not tasks[task] then
        return {'retry'}
      end
      local t = redis.call('HMGET', tasks[task], 'state', 'department')
      if t[1] == 'open' or t[1] == 'accepted' then
        if not departments[t[2]] then
          return {'retry'}
        end
        open[#open + 1] = {task, departments[t[2]]}
      end
    end
    for _, pair in ipairs(open) do
      redis.call('HSET', tasks[pair[1]], 'left_open', '1', 'updated_at', now)
      redis.call('ZREM', KEYS[8], pair[1])
      redis.call('ZREM', pair[2], pair[1])
    end
    local links = redis.call('HGETALL', KEYS[7])
    for i = 1, #links, 2 do
      local held = redis.call('HGET', KEYS[6], links[i])
      if held and cjson.decode(held).incident == id then
        redis.call('HDEL', KEYS[6], links[i])
      end
    end
    redis.call('HSET', KEYS[1], 'closed_by', actor, 'closed_at', now)
  end
  redis.call('HSET', KEYS[1], 'status', value, 'status_by', actor, 'status_at', now)
  status = value
elseif action == 'level' or action == 'commander' or action == 'public' then
  local current = field(action)
  if value == current then
    return conflict('already', 'already ' .. value, field(action .. '_by'), field(action .. '_at'))
  end
  redis.call('HSET', KEYS[1], action, value, action .. '_by', actor, action .. '_at', now)
  if action == 'level' then
    detail = current .. ' -> ' .. value
  end
elseif action == 'area' then
  local area = cjson.decode(value)
  redis.call('HSET', KEYS[1], 'lat', area.lat, 'lon', area.lon, 'radius_m', area.radius_m,
             'area', area.area, 'area_by', actor, 'area_at', now)
  detail = ''
else
  return {'error', 'unknown action ' .. action}
end
touch(status, true)
log(action, detail, {note = note})
return {'ok', status}
