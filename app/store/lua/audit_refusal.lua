-- Counts one refusal of an anonymous client: the first of its kind from its address (and name)
-- in a window is appended to the audit stream; the rest only raise that entry's count, so a loop
-- of bad tokens or passwords cannot push real events out of the log (issue 17).
-- KEYS: the audit stream, this client's open-window key, the counts hash, the counter of windows
-- opened in the current window, the open-window key of the "many addresses" bucket.
-- ARGV: now, window_s, most windows opened per window, actor, action, target, addr, detail.
-- Returns {entry id, refusals counted in it}.
local now, window, most = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local actor, action, target, addr, detail = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]

local function counted(key)
  local id = redis.call('GET', key)
  if id then
    return {id, redis.call('HINCRBY', KEYS[3], id, 1) + 1}
  end
  return nil
end

local found = counted(KEYS[2])
if found then return found end
local key = KEYS[2]
local opened = redis.call('INCR', KEYS[4])
if opened == 1 or redis.call('TTL', KEYS[4]) < 0 then
  redis.call('EXPIRE', KEYS[4], window)
end
if opened > most then
  -- Too many addresses at once: the rest of this window shares one entry per kind.
  key, addr = KEYS[5], '*'
  found = counted(key)
  if found then return found end
end
local id = redis.call('XADD', KEYS[1], '*', 'at', now, 'actor', actor, 'action', action,
  'target', target, 'addr', addr, 'outcome', 'denied', 'detail', detail, 'window', window)
redis.call('SET', key, id, 'EX', window)
return {id, 1}
