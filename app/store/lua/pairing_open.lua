-- Open a display pairing request (issue 19), counted against the opening address's budget.
-- KEYS[1] the address's counter, KEYS[2] the request (by its short code)
-- ARGV: window_s, most per window, ttl_s, kiosk digest, created_at, address
-- Returns -1 when the address spent its budget, 0 when the code is taken, 1 when opened.
local opened = redis.call('INCR', KEYS[1])
if opened == 1 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
end
if opened > tonumber(ARGV[2]) then
  return -1
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('HSET', KEYS[2], 'kiosk', ARGV[4], 'created_at', ARGV[5], 'addr', ARGV[6])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
return 1
