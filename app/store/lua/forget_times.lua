-- Takes ids (ARGV) out of a domain's observation times (KEYS[1]).
local times = times_of(KEYS[1])
for i = 1, #ARGV do times[ARGV[i]] = nil end
redis.call('SET', KEYS[1], cmsgpack.pack(times))
return 1
