-- Read history after an id together with what decides whether it is complete:
-- the epoch floor, the newest id trimmed away, and the newest id ever added.
-- KEYS: stream, meta   ARGV: after (exclusive), entries (how many: '0' = none, '-1' = all), ensure_floor ('1' = create if missing)
local stream, meta = KEYS[1], KEYS[2]
if ARGV[3] == '1' and redis.call('EXISTS', meta) == 0 then
  local t = redis.call('TIME')
  redis.call('HSET', meta, 'floor', string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - 1) .. '-0')
end
local floor = redis.call('HGET', meta, 'floor') or '0-0'
if redis.call('EXISTS', stream) == 0 then
  return {floor, '0-0', '0-0', {}}
end
local info = redis.call('XINFO', 'STREAM', stream)
local trimmed, last = '0-0', '0-0'
for i = 1, #info, 2 do
  if info[i] == 'max-deleted-entry-id' then trimmed = info[i + 1] end
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
local count = tonumber(ARGV[2])
if count == 0 then return {floor, trimmed, last, {}} end
if count < 0 then return {floor, trimmed, last, redis.call('XRANGE', stream, '(' .. ARGV[1], '+')} end
return {floor, trimmed, last, redis.call('XRANGE', stream, '(' .. ARGV[1], '+', 'COUNT', count)}
