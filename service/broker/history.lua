-- Read history after an id together with what decides whether it is complete:
-- the epoch floor, the newest id trimmed or deleted away, the newest id ever added, and
-- whether the stream holds `after` itself.
-- With the entries come the alert ids retracted since `after`, read in the same atomic step,
-- whose alerts and corrections the reader withholds.
-- KEYS: stream, meta, retracted   ARGV: after (exclusive), entries (how many: '0' = none, '-1' = all), ensure_floor ('1' = create if missing)
local stream, meta, retracted = KEYS[1], KEYS[2], KEYS[3]
if ARGV[3] == '1' and redis.call('EXISTS', meta) == 0 then
  local t = redis.call('TIME')
  redis.call('HSET', meta, 'floor', string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - 1) .. '-0')
end
local floor = redis.call('HGET', meta, 'floor') or '0-0'
if redis.call('EXISTS', stream) == 0 then
  return {floor, '0-0', '0-0', {}, {}, 0}
end
-- An id inside the retained range that the stream does not hold was lost (a failover promoted
-- a replica without it) or never handed out: either way the reader cannot know what follows it.
local held = 0
if #redis.call('XRANGE', stream, ARGV[1], ARGV[1], 'COUNT', 1) > 0 then held = 1 end

local function newer(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, bms = tonumber(ams), tonumber(bms)
  if ams ~= bms then return ams > bms end
  return tonumber(aseq) > tonumber(bseq)
end

local info = redis.call('XINFO', 'STREAM', stream)
local deleted, last, added, length, first = '0-0', '0-0', 0, 0, nil
for i = 1, #info, 2 do
  local name, value = info[i], info[i + 1]
  if name == 'max-deleted-entry-id' then deleted = value
  elseif name == 'last-generated-id' then last = value
  elseif name == 'entries-added' then added = value
  elseif name == 'length' then length = value
  elseif name == 'first-entry' then first = value
  end
end

-- `MAXLEN ~` leaves max-deleted-entry-id alone: the trim point is the first retained entry's
-- predecessor, which publish.lua stored in it as `p`.
local trimmed = '0-0'
if first then
  local fields, recorded = first[2], false
  for i = 1, #fields, 2 do
    if fields[i] == 'p' then trimmed, recorded = fields[i + 1], true end
  end
  -- An entry written without `p` (by an older node): only ids from the first entry on are
  -- known to be complete.
  if not recorded and added > length then trimmed = first[1] end
elseif added > 0 then
  trimmed = last
end
if newer(deleted, trimmed) then trimmed = deleted end

local count = tonumber(ARGV[2])
if count == 0 then return {floor, trimmed, last, {}, {}, held} end
-- A retraction at or before `after` took down only entries before it too.
local since = redis.call('ZRANGEBYSCORE', retracted, string.match(ARGV[1], '^(%d+)'), '+inf')
if count < 0 then return {floor, trimmed, last, redis.call('XRANGE', stream, '(' .. ARGV[1], '+'), since, held} end
return {floor, trimmed, last, redis.call('XRANGE', stream, '(' .. ARGV[1], '+', 'COUNT', count), since, held}
