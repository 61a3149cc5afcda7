-- Takes ids (ARGV[2..]) out of a feed's observation times (KEYS[1]; KEYS[2] the per-domain map
-- of an earlier CityOps, ARGV[1] the feed's id prefix).
local times = times_of(KEYS[1], KEYS[2], ARGV[1])
for i = 2, #ARGV do times[ARGV[i]] = nil end
redis.call('SET', KEYS[1], cmsgpack.pack(times))
return 1
