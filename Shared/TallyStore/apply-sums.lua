-- Applies a batch whose sums the worker made: what the batch adds per board and member (in
-- event order, as apply-events.lua would), so Redis gets one line per member per board rather
-- than one per event per board. All or nothing: if any event was seen before, the idempotency
-- records set so far are taken back, nothing else is written, and the worker sends the batch
-- through apply-events.lua instead. Each event goes into the org's activity log (a stream)
-- as recorded, with what it added, and its idempotency record holds its log entry's id; an
-- org whose rules keep no log (`log_days: 0`) gets no entries, and its records hold '1'.
--
-- KEYS: the board index, names, teams, the org's sequence, the activity log, one idempotency
--   record per event, then each board's sorted set, its reached hash and its order index
--   (read-board.lua; kept for boards of more than 128 members).
-- ARGV: idempotency TTL (s), event count, now (ms), the oldest log id to keep (ms) or '' for
--   no log, one log entry per event ('' each without a log), index ids (count, ids), names (count, then rep and name), teams (count,
--   then rep and team), boards (count, then per board: expire-at or 0, member count, then per
--   member: member, amount (never 0: the worker leaves out what adds nothing), the position in
--   the batch (1-based) of the last event that added to it).
-- Returns 1 (applied) or 0 (a duplicate: nothing done).
local index, names, teams, sequence, activity = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local seen_ttl, n_events, now_ms, keep_from = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
-- Log ids are '<ms>-<n>' after the log's last entry, so a worker whose clock lags another's
-- still appends in order (the same rule is in apply-events.lua and correct-event.lua).
local logged = keep_from ~= ''
local id_ms, id_seq = now_ms, -1
local last = logged and redis.call('XREVRANGE', activity, '+', '-', 'COUNT', 1)[1]
if last then
  local ms, sq = string.match(last[1], '^(%d+)-(%d+)$')
  if tonumber(ms) >= id_ms then id_ms, id_seq = tonumber(ms), tonumber(sq) end
end
local ids = {}
for e = 1, n_events do
  ids[e] = logged and string.format('%d-%d', id_ms, id_seq + e) or '1'
  if not redis.call('SET', KEYS[5 + e], ids[e], 'NX', 'EX', seen_ttl) then
    for d = 1, e - 1 do redis.call('DEL', KEYS[5 + d]) end
    return 0
  end
end
if logged then
  for e = 1, n_events do redis.call('XADD', activity, ids[e], 'e', ARGV[4 + e]) end
  redis.call('XTRIM', activity, 'MINID', '~', keep_from)
else
  -- An org whose rules turned the log off keeps none: a log it had goes (freed in the background).
  redis.call('UNLINK', activity)
end
-- Every write moves the org's sequence: readers that cache answers check it.
local seq = redis.call('INCRBY', sequence, n_events) - n_events

local i = 5 + n_events
-- unpack() has a stack limit: write long argument lists a thousand values at a time.
local function in_chunks(command, key, values)
  for first = 1, #values, 1000 do
    redis.call(command, key, unpack(values, first, math.min(first + 999, #values)))
  end
end
local function hmget(hash, fields)
  local out = {}
  for first = 1, #fields, 1000 do
    local values = redis.call('HMGET', hash, unpack(fields, first, math.min(first + 999, #fields)))
    for v = 1, #values do out[#out + 1] = values[v] end
  end
  return out
end
-- A member of a board's order index (read-board.lua): its reached sequence inverted and
-- zero-padded, then the member, so equal scores sort first-reached first in a reverse range.
local function order_member(reached_seq, member)
  return string.format('%015d', 999999999999999 - tonumber(reached_seq)) .. member
end
-- A board of up to SMALL members has no order index: read-board.lua reads such a board by its
-- page and the ties at its edges, which cannot cost more than its size. A board that grows past
-- it gets its index built at once and kept from then on; one of over REBUILD members without an
-- index (written before indexes existed) is left to that way of reading rather than held up
-- for here. The same rule is in apply-events.lua.
local SMALL, REBUILD = 128, 10000
local function build_index(board, reached, order)
  local flat = redis.call('ZRANGE', board, 0, -1, 'WITHSCORES')
  local members = {}
  for f = 1, #flat, 2 do members[#members + 1] = flat[f] end
  local seqs = hmget(reached, members)
  local entries = {}
  for m = 1, #members do
    entries[2 * m - 1], entries[2 * m] = flat[2 * m], order_member(seqs[m] or 999999999999999, members[m])
  end
  redis.call('DEL', order)
  in_chunks('ZADD', order, entries)
end
local function take(n)
  local values = {}
  for v = 1, n do values[v] = ARGV[i + v - 1] end
  i = i + n
  return values
end

local n = tonumber(ARGV[i]); i = i + 1
in_chunks('SADD', index, take(n))
n = tonumber(ARGV[i]); i = i + 1
in_chunks('HSET', names, take(2 * n))
n = tonumber(ARGV[i]); i = i + 1
in_chunks('HSET', teams, take(2 * n))

local n_boards = tonumber(ARGV[i]); i = i + 1
local k = 5 + n_events
for _ = 1, n_boards do
  local board, reached, order = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  k = k + 3
  local expire_at, n_members = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  local members, amounts, fields = {}, {}, {}
  for m = 1, n_members do
    members[m], amounts[m] = ARGV[i], ARGV[i + 1]
    fields[2 * m - 1], fields[2 * m] = ARGV[i], seq + tonumber(ARGV[i + 2])
    i = i + 3
  end
  local indexed = redis.call('ZCARD', order) > 0
  local before = indexed and hmget(reached, members)
  local stale, entries = {}, {}
  for m = 1, n_members do
    local score = redis.call('ZINCRBY', board, amounts[m], members[m])
    if indexed then
      if before[m] then stale[#stale + 1] = order_member(before[m], members[m]) end
      entries[#entries + 1] = score
      entries[#entries + 1] = order_member(fields[2 * m], members[m])
    end
  end
  in_chunks('HSET', reached, fields)
  if indexed then
    in_chunks('ZREM', order, stale)
    in_chunks('ZADD', order, entries)
  end
  local size = redis.call('ZCARD', board)
  if size > SMALL and size <= REBUILD and redis.call('ZCARD', order) ~= size then build_index(board, reached, order) end
  if expire_at ~= '0' then
    for _, written in ipairs({board, reached, order}) do redis.call('EXPIREAT', written, expire_at) end
  end
end
return 1
