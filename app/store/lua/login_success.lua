-- A sign-in succeeded: refund the attempt counted by login_attempt.lua, and forget what was
-- counted against this user (the person proved they know the password).
-- KEYS: the pair's counter, the address's counter, the user's slow counter, its back-off hash.
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
if redis.call('DECR', KEYS[2]) <= 0 then
  redis.call('DEL', KEYS[2])
end
return 1
