-- Rewrites one feed's compact health: KEYS[1] its health record, KEYS[2] the summary hash,
-- ARGV[1] the feed, ARGV[2..] the summary's fields (prelude: feed_prelude.lua).
local names = {}
for i = 2, #ARGV do names[#names + 1] = ARGV[i] end
refresh_summary(KEYS[1], KEYS[2], ARGV[1], names)
return 1
