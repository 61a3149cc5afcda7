-- Counts one sign-in attempt against its budgets before the password is checked, so that
-- attempts sent in parallel cannot all be checked before any is counted (issue 17).
-- KEYS: the (user, address) pair's counter, the address's counter, the user's slow counter (from
-- devices not known to the user), the user's back-off hash.
-- ARGV: now, window_s (pair and address), pair_limit, address_limit, user_window_s, user_limit,
-- known (1: a device the user signed in from before), backoff_base_s, backoff_max_s, memory_s.
-- Returns {1, 0, ''} when the password may be checked, else {0, seconds to wait, budget spent}.
-- A success is refunded by login_success.lua; a failure stays counted.
local now = tonumber(ARGV[1])
local window, pair_limit, address_limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local user_window, user_limit = tonumber(ARGV[5]), tonumber(ARGV[6])
local known = ARGV[7] == '1'
local base, longest, memory = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])

if not known then
  local held = tonumber(redis.call('HGET', KEYS[4], 'until') or '0')
  if held > now then
    return {0, math.ceil(held - now), 'user'}
  end
end

-- One more in a window that starts at the first attempt (INCR keeps the expiry).
local function count(key, seconds)
  local n = redis.call('INCR', key)
  local ttl = redis.call('TTL', key)
  if n == 1 or ttl < 0 then
    redis.call('EXPIRE', key, seconds)
    ttl = seconds
  end
  return n, ttl
end

local pairs_n, pair_ttl = count(KEYS[1], window)
local address_n, address_ttl = count(KEYS[2], window)
local wait, spent = 0, ''
if pairs_n > pair_limit then
  wait, spent = pair_ttl, 'pair'
end
if address_n > address_limit and address_ttl > wait then
  wait, spent = address_ttl, 'address'
end
if wait > 0 then
  return {0, wait, spent}
end

if not known then
  local user_n = count(KEYS[3], user_window)
  if user_n > user_limit then
    -- The slow budget is spent: back off exponentially (1, 2, 4 ... minutes up to the longest),
    -- for devices this user never signed in from; the user's own devices are not held.
    local level = tonumber(redis.call('HGET', KEYS[4], 'level') or '0')
    local delay = math.min(base * (2 ^ level), longest)
    redis.call('HSET', KEYS[4], 'level', level + 1, 'until', now + delay)
    redis.call('EXPIRE', KEYS[4], math.ceil(delay + memory))
    redis.call('DEL', KEYS[3])
    return {0, math.ceil(delay), 'user'}
  end
end
return {1, 0, ''}
