-- Store, replace or remove one push subscription and its region index atomically.
-- KEYS: subscriptions hash
-- ARGV: region-set prefix, id, stored body ('' = remove), regions of the new body ('*' = all)
local subs, prefix, id, body = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local old = redis.call('HGET', subs, id)
if old then
  local regions = cjson.decode(old)['r']
  if regions == cjson.null then
    redis.call('SREM', prefix .. '*', id)
  else
    for _, region in ipairs(regions) do redis.call('SREM', prefix .. region, id) end
  end
end
if body == '' then
  redis.call('HDEL', subs, id)
  return old and 1 or 0
end
redis.call('HSET', subs, id, body)
for i = 4, #ARGV do redis.call('SADD', prefix .. ARGV[i], id) end
return old and 0 or 1
