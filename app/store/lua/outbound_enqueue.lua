-- Queues one delivery (ARGV[2]) for each receiver whose queue (KEYS[2i-1]) holds fewer than
-- ARGV[1]; a full queue counts the delivery as dropped in its status hash (KEYS[2i]) instead.
-- Returns one 1 (queued) or 0 (dropped) per receiver.
local limit = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS, 2 do
  if redis.call('LLEN', KEYS[i]) < limit then
    redis.call('RPUSH', KEYS[i], ARGV[2])
    out[#out + 1] = 1
  else
    redis.call('HINCRBY', KEYS[i + 1], 'dropped', 1)
    out[#out + 1] = 0
  end
end
return out
