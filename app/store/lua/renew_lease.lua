-- Renews a lease (KEYS[1]) held by ARGV[1] for ARGV[2] ms; 0 when someone else holds it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
