-- Publish one event atomically: idempotency check, XADD to the capped history
-- stream, live-alert bookkeeping, (S)PUBLISH. Either all of it happens or none.
-- KEYS: stream, meta, alerts, corrected, expiry, idempotency, rate, audit, retracted
-- ARGV: kind, body, alert_id, headline, maxlen, ttl_ms, fingerprint, idempotency_ttl_s, channel,
--       rate_limit ('0' = none), rate_window_ms, audit record (JSON, '' = none), audit maxlen,
--       publish command (PUBLISH, or SPUBLISH on a cluster: the channel shares the keys' slot)
local stream, meta, alerts, corrected, expiry, idem, rate = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local retracted = KEYS[9]
local kind, body, alert_id, headline = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local fingerprint = ARGV[7]

if fingerprint ~= '' then
  local prior = redis.call('GET', idem)
  if prior then
    -- Rewritten as it is, so that a WAIT after this script (BREAKING_REDIS_MIN_REPLICAS_ACK)
    -- covers the first write too: WAIT counts only the writes of its own connection.
    redis.call('SET', idem, prior, 'KEEPTTL')
    return {'replay', prior}
  end
end

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- The epoch floor: ids below it predate this history (Redis came back empty). It sits 1 ms
-- before now, so the epoch's first event, added below in this same millisecond, is above it.
if redis.call('EXISTS', meta) == 0 then
  redis.call('HSET', meta, 'floor', string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - 1) .. '-0')
end

-- Sweep a bounded batch of expired alerts so the live set never grows without end.
local gone = redis.call('ZRANGEBYSCORE', expiry, '-inf', now_ms, 'LIMIT', 0, 100)
if #gone > 0 then
  redis.call('ZREM', expiry, unpack(gone))
  redis.call('HDEL', alerts, unpack(gone))
  redis.call('HDEL', corrected, unpack(gone))
end

if kind ~= 'alert' and redis.call('HEXISTS', alerts, alert_id) == 0 then
  return {'unknown', alert_id}
end

-- Only publishes count against an editor's rate: not replays, not unknown alerts.
if ARGV[10] ~= '0' then
  local count = redis.call('INCR', rate)
  if count == 1 then redis.call('PEXPIRE', rate, ARGV[11]) end
  if count > tonumber(ARGV[10]) then return {'limited', tostring(redis.call('PTTL', rate))} end
end

-- The headline this write replaces, for the audit trail, read before it is changed.
local before = ''
if ARGV[12] ~= '' and kind ~= 'alert' then
  before = redis.call('HGET', corrected, alert_id) or cjson.decode(redis.call('HGET', alerts, alert_id)).headline
end

-- Each entry records the id before it (`p`). `MAXLEN ~` trims without setting the stream's
-- max-deleted-entry-id, so the first retained entry's `p` is how history.lua knows the newest
-- id trimmed away.
local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
local prev = newest and newest[1] or '0-0'
local id = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[5], '*', 'e', body, 'p', prev)
if kind == 'alert' then
  redis.call('HSET', alerts, id, body)
  redis.call('ZADD', expiry, tonumber(string.match(id, '^(%d+)')) + tonumber(ARGV[6]), id)
elseif kind == 'correction' then
  redis.call('HSET', corrected, alert_id, headline)
else
  redis.call('HDEL', alerts, alert_id)
  redis.call('HDEL', corrected, alert_id)
  redis.call('ZREM', expiry, alert_id)
  -- history.lua withholds the alert and its corrections from now on. A retraction older
  -- than the first retained entry has nothing left to withhold (its alert and corrections
  -- came before it), so the set stays within the retractions the stream still holds.
  redis.call('ZADD', retracted, tonumber(string.match(id, '^(%d+)')), alert_id)
  local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  redis.call('ZREMRANGEBYSCORE', retracted, '-inf', '(' .. string.match(oldest[1], '^(%d+)'))
end
if ARGV[12] ~= '' then
  local written = alert_id
  if kind == 'alert' then written = id end
  redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[13], '*', 'r', ARGV[12], 'e', id, 'i', written, 'b', before)
end
redis.call(ARGV[14], ARGV[9], id .. ' ' .. body)
if fingerprint ~= '' then
  redis.call('SET', idem, fingerprint .. '\n' .. id .. '\n' .. body, 'EX', ARGV[8])
end
return {'ok', id}
