-- Links an alert to an incident or unlinks it. KEYS[1..5] as the prelude says, then 6 the
-- incident's alerts, 7 the linked-alerts map (alert -> the open incident it belongs to).
-- ARGV: id, now, actor, addr, op (link, autolink or unlink), alert id, alert title, note.
-- An alert belongs to one open incident at a time; the automatic link (autolink) never takes an
-- alert someone unlinked by hand, nor one of another incident, and answers {'noop'} instead.
-- Returns {'ok', number}, {'noop'}, {'missing'} or {'conflict', reason, why, by, at}.
local op, alert, title, note = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local f = redis.call('HMGET', KEYS[1], 'status', 'number', 'closed_by', 'closed_at')
if not f[1] then
  return {'missing'}
end
if f[1] == 'closed' then
  if op == 'autolink' then
    return {'noop'}
  end
  return conflict('closed', 'the incident is closed', f[3], f[4])
end
local raw = redis.call('HGET', KEYS[6], alert)
local mine = raw and cjson.decode(raw) or nil
if op == 'link' or op == 'autolink' then
  if mine and mine.state == 'linked' then
    if op == 'autolink' then
      return {'noop'}
    end
    return conflict('already_linked', 'already linked', mine.by, mine.at)
  end
  if op == 'autolink' and mine then
    return {'noop'}
  end
  local held = redis.call('HGET', KEYS[7], alert)
  if held then
    if op == 'autolink' then
      return {'noop'}
    end
    local other = cjson.decode(held)
    return conflict('linked_elsewhere', 'the alert is linked to incident #' .. other.number,
                    other.by, other.at)
  end
  local how = 'hand'
  if op == 'autolink' then
    how = 'auto'
  end
  redis.call('HSET', KEYS[6], alert, cjson.encode({state = 'linked', by = actor, at = now, how = how}))
  redis.call('HSET', KEYS[7], alert,
             cjson.encode({incident = id, number = tonumber(f[2]), by = actor, at = now}))
  touch(f[1], false)
  if op == 'autolink' then
    log('autolinked', title, {alert = alert, note = note})
  else
    log('linked', title, {alert = alert, note = note})
  end
elseif op == 'unlink' then
  if not mine or mine.state ~= 'linked' then
    local by, at = '', ''
    if mine then
      by, at = mine.by, mine.at
    end
    return conflict('not_linked', 'the alert is not linked', by, at)
  end
  redis.call('HSET', KEYS[6], alert, cjson.encode({state = 'unlinked', by = actor, at = now,
                                                   how = 'hand'}))
  local held = redis.call('HGET', KEYS[7], alert)
  if held and cjson.decode(held).incident == id then
    redis.call('HDEL', KEYS[7], alert)
  end
  touch(f[1], false)
  log('unlinked', title, {alert = alert, note = note})
else
  return {'error', 'unknown op ' .. op}
end
return {'ok', f[2]}
