-- Pauses or resumes a feed in one step (prelude: feed_prelude.lua). KEYS: the feeds' index, the
-- paused hash, the feed's health record, the summary hash. ARGV: feed, "1" to pause or "0" to
-- resume, who, when (of the pause, or of the resume: the feed waits for its first poll from
-- then on, see app/model/feeds.py), then the summary's fields. Returns 1 when this changed the feed, 0 when it
-- already was so (a repeated pause keeps the first one's who and when).
local feed, pause, by, at = ARGV[1], ARGV[2] == '1', ARGV[3], ARGV[4]
redis.call('SADD', KEYS[1], feed)
local changed
if pause then
  changed = redis.call('HSETNX', KEYS[2], feed, cjson.encode({by = by, at = tonumber(at)}))
else
  changed = redis.call('HDEL', KEYS[2], feed)
end
if changed == 0 then return 0 end
if pause then
  redis.call('HSET', KEYS[3], 'paused', '1', 'paused_by', by, 'paused_at', at, 'resumed_at', '')
else
  redis.call('HSET', KEYS[3], 'paused', '0', 'paused_by', '', 'paused_at', '', 'resumed_at', at)
end
local names = {}
for i = 5, #ARGV do names[#names + 1] = ARGV[i] end
refresh_summary(KEYS[3], KEYS[4], feed, names)
return 1
