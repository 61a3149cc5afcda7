-- Gives up a lease (KEYS[1]) if ARGV[1] holds it, so another runner need not wait for it to expire.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
