-- Helper of the feed scripts: rewrites a feed's compact health (field `feed` of the hash
-- `summary`) from its health record (`health`): the fields `names` as one JSON object, missing
-- ones "". Run after every change to the record, so whichever change came last, the summary
-- says what the record says.
local function refresh_summary(health, summary, feed, names)
  local values = redis.call('HMGET', health, unpack(names))
  local out = {}
  for i, name in ipairs(names) do out[name] = values[i] or '' end
  redis.call('HSET', summary, feed, cjson.encode(out))
end
