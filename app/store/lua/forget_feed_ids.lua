-- Takes ids (ARGV) out of a feed's id list (KEYS[1]); returns how many are kept.
local gone = {}
for i = 1, #ARGV do gone[ARGV[i]] = true end
local kept = {}
for _, id in ipairs(feed_ids(KEYS[1])) do
  if not gone[id] then kept[#kept + 1] = id end
end
redis.call('SET', KEYS[1], cmsgpack.pack(kept))
return #kept
