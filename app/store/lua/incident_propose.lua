-- Records a proposal of an incident from clustered alerts, or adds alerts to a pending one.
-- KEYS: 1 the proposal hash, 2 pending proposals, 3 the proposals' index, 4 the proposed-alerts
-- map (alert -> proposal), 5 the incidents' meta hash. ARGV: proposal id, now, mode (create or
-- extend), JSON of the proposal's fields, then the alert ids. An alert is in one proposal only:
-- once proposed (and accepted or dismissed) it never makes another.
-- Returns {'created', n}, {'extended', n}, {'noop'} or {'taken', alert id} (create only).
local pid, now, mode = ARGV[1], ARGV[2], ARGV[3]
local fields = cjson.decode(ARGV[4])
local flat = {}
for key, value in pairs(fields) do
  flat[#flat + 1] = key
  flat[#flat + 1] = tostring(value)
end
local members = {}
if mode == 'create' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return {'noop'}
  end
  for i = 5, #ARGV do
    if redis.call('HEXISTS', KEYS[4], ARGV[i]) == 1 then
      return {'taken', ARGV[i]}
    end
  end
  for i = 5, #ARGV do
    redis.call('HSET', KEYS[4], ARGV[i], pid)
    members[#members + 1] = ARGV[i]
  end
  redis.call('HSET', KEYS[1], 'id', pid, 'state', 'pending', 'created_at', now, 'judged_by', '',
             'judged_at', '', 'reason', '', 'incident', '')
  redis.call('ZADD', KEYS[2], now, pid)
else
  if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then
    return {'noop'}
  end
  for member in string.gmatch(redis.call('HGET', KEYS[1], 'alerts') or '', '[^,]+') do
    members[#members + 1] = member
  end
  local before = #members
  for i = 5, #ARGV do
    if redis.call('HSETNX', KEYS[4], ARGV[i], pid) == 1 then
      members[#members + 1] = ARGV[i]
    end
  end
  if #members == before then
    return {'noop'}
  end
end
if #flat > 0 then
  redis.call('HSET', KEYS[1], unpack(flat))
end
redis.call('HSET', KEYS[1], 'alerts', table.concat(members, ','), 'updated_at', now)
redis.call('ZADD', KEYS[3], now, pid)
redis.call('HINCRBY', KEYS[5], 'version', 1)
if mode == 'create' then
  return {'created', tostring(#members)}
end
return {'extended', tostring(#members)}
