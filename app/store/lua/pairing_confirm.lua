-- An admin confirms a display pairing request (issue 19): it gets the token the display will use.
-- KEYS[1] the request; ARGV: token id, token name, confirming admin
-- Returns 0 when there is no such request (never opened, expired or used), -1 when it was
-- confirmed already (the first admin wins), 1 when confirmed now.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if redis.call('HEXISTS', KEYS[1], 'token_id') == 1 then
  return -1
end
redis.call('HSET', KEYS[1], 'token_id', ARGV[1], 'name', ARGV[2], 'by', ARGV[3])
return 1
