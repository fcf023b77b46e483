-- Applies a batch whose sums the worker made: what the batch adds per board and member (in
-- event order, as apply-events.lua would), so Redis gets one line per member per board rather
-- than one per event per board. All or nothing: if any event was seen before, the idempotency
-- records set so far are taken back, nothing else is written, and the worker sends the batch
-- through apply-events.lua instead.
--
-- KEYS: the board index, names, teams, the org's sequence, one idempotency record per event,
--   then each board's sorted set and its reached hash.
-- ARGV: idempotency TTL (s), event count, index ids (count, ids), names (count, then rep and
--   name), teams (count, then rep and team), boards (count, then per board: expire-at or 0,
--   member count, then per member: member, amount (never 0: the worker leaves out what adds
--   nothing), the position in the batch (1-based) of the last event that added to it).
-- Returns 1 (applied) or 0 (a duplicate: nothing done).
local index, names, teams, sequence = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local seen_ttl, n_events = ARGV[1], tonumber(ARGV[2])
for e = 1, n_events do
  if not redis.call('SET', KEYS[4 + e], '1', 'NX', 'EX', seen_ttl) then
    for d = 1, e - 1 do redis.call('DEL', KEYS[4 + d]) end
    return 0
  end
end
local seq = redis.call('INCRBY', sequence, n_events) - n_events

local i = 3
-- unpack() has a stack limit: write long argument lists a thousand values at a time.
local function in_chunks(command, key, values)
  for first = 1, #values, 1000 do
    redis.call(command, key, unpack(values, first, math.min(first + 999, #values)))
  end
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
local k = 4 + n_events
for _ = 1, n_boards do
  local board, reached = KEYS[k + 1], KEYS[k + 2]
  k = k + 2
  local expire_at, n_members = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  local fields = {}
  for m = 1, n_members do
    redis.call('ZINCRBY', board, ARGV[i + 1], ARGV[i])
    fields[2 * m - 1], fields[2 * m] = ARGV[i], seq + tonumber(ARGV[i + 2])
    i = i + 3
  end
  in_chunks('HSET', reached, fields)
  if expire_at ~= '0' then
    redis.call('EXPIREAT', board, expire_at)
    redis.call('EXPIREAT', reached, expire_at)
  end
end
return 1
