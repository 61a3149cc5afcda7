-- The display that opened a pairing request asks for its outcome (issue 19); once confirmed, the
-- request is used up: claimed and deleted in one step, so it opens one session only.
-- KEYS[1] the request; ARGV[1] the digest of the display's own secret
-- Returns {0, ''} no such request, {-1, ''} another display's secret, {1, ''} not confirmed yet,
-- {2, token id} confirmed and now used.
local fields = redis.call('HMGET', KEYS[1], 'kiosk', 'token_id')
if not fields[1] then
  return {0, ''}
end
if fields[1] ~= ARGV[1] then
  return {-1, ''}
end
if not fields[2] then
  return {1, ''}
end
redis.call('DEL', KEYS[1])
return {2, fields[2]}
