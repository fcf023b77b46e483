-- Applies a batch event by event: each event whose idempotency record is new adds its
-- increments; one seen before adds nothing. Races (boards with a goal) take each event as it
-- comes, so the first member to reach the goal wins and the board stops counting; every other
-- board gets one ZINCRBY per member with what the new events add up to. An increment of 0
-- writes nothing: it must not make its member "reach" its score again, on this board or on
-- the rolling boards read from it. Each new event goes into the org's activity log (a stream)
-- as recorded, with what it added, and its idempotency record holds its log entry's id (as
-- apply-sums.lua: without a log, no entries, and the records hold '1').
--
-- KEYS: the board index, names, teams, the org's sequence, the activity log, one idempotency record per event,
--   then each board's sorted set, its reached hash and its order index (read-board.lua; kept
--   for boards of more than 128 members), then
--   the finish hash of each race, in the order of the races among the boards.
-- ARGV: idempotency TTL (s), now (ms), event count, the oldest log id to keep (ms) or '' for
--   no log, one log entry per event ('' each without a log), index ids (count, ids), boards (count,
--   then per board: expire-at or 0, the race's goal or ''), then per event: rep, name or '',
--   team or '', increment count, then per increment: board (1-based), member, amount.
-- Returns 1 (counted) or 0 (duplicate) per event.
local index, names, teams, sequence, activity = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local seen_ttl, now_ms, n_events, keep_from = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local entries_at = 4
local i = 5 + n_events
-- Log ids are '<ms>-<n>' after the log's last entry (see apply-sums.lua).
local logged = keep_from ~= ''
local id_ms, id_seq = tonumber(now_ms), -1
local last = logged and redis.call('XREVRANGE', activity, '+', '-', 'COUNT', 1)[1]
if last then
  local ms, sq = string.match(last[1], '^(%d+)-(%d+)$')
  if tonumber(ms) >= id_ms then id_ms, id_seq = tonumber(ms), tonumber(sq) end
end
local n_index = tonumber(ARGV[i]); i = i + 1
for _ = 1, n_index do redis.call('SADD', index, ARGV[i]); i = i + 1 end

local n_boards = tonumber(ARGV[i]); i = i + 1
local first_board = 5 + n_events
local races = first_board + 3 * n_boards
local board, reached, order, expire_at, goal, finish, frozen = {}, {}, {}, {}, {}, {}, {}
for b = 1, n_boards do
  local at = first_board + 3 * (b - 1)
  board[b], reached[b], order[b] = KEYS[at + 1], KEYS[at + 2], KEYS[at + 3]
  expire_at[b] = ARGV[i]
  if ARGV[i + 1] ~= '' then
    races = races + 1
    goal[b], finish[b] = tonumber(ARGV[i + 1]), KEYS[races]
    frozen[b] = redis.call('EXISTS', finish[b]) == 1
  end
  i = i + 2
end

-- Every write moves the org's sequence: readers that cache answers check it.
local seq = redis.call('INCRBY', sequence, n_events) - n_events

-- A member of a board's order index (read-board.lua): its reached sequence inverted and
-- zero-padded, then the member, so equal scores sort first-reached first in a reverse range.
local function order_member(reached_seq, member)
  return string.format('%015d', 999999999999999 - tonumber(reached_seq)) .. member
end
-- Boards of more than SMALL members keep an order index, built when they grow past it (if not
-- over REBUILD members: see apply-sums.lua, which has the same rule).
local SMALL, REBUILD = 128, 10000
local indexed, written = {}, {}
for b = 1, n_boards do indexed[b] = redis.call('ZCARD', order[b]) > 0 end
-- Moves a member in a board's order index (if it has one) to its new score and sequence.
local function reorder(b, member, score, new_seq, old_seq)
  written[b] = true
  if not indexed[b] then return end
  if old_seq then redis.call('ZREM', order[b], order_member(old_seq, member)) end
  redis.call('ZADD', order[b], score, order_member(new_seq, member))
end
-- Sum what the new events add per board and member, so each member of each board costs one
-- ZINCRBY however many events of the batch touch it.
local sums, last, counted = {}, {}, {}
for e = 1, n_events do
  local rep, name, team, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  local log_id = logged and string.format('%d-%d', id_ms, id_seq + 1) or '1'
  if redis.call('SET', KEYS[5 + e], log_id, 'NX', 'EX', seen_ttl) then
    if logged then
      id_seq = id_seq + 1
      redis.call('XADD', activity, log_id, 'e', ARGV[entries_at + e])
    end
    counted[e] = 1
    seq = seq + 1
    for _ = 1, n do
      local b, member = tonumber(ARGV[i]), ARGV[i + 1]
      if goal[b] then
        -- A race: applied event by event, so the first to reach the goal wins.
        if not frozen[b] then
          if tonumber(ARGV[i + 2]) ~= 0 then
            local raw = redis.call('ZINCRBY', board[b], ARGV[i + 2], member)
            reorder(b, member, raw, seq, redis.call('HGET', reached[b], member))
            redis.call('HSET', reached[b], member, seq)
            local score = tonumber(raw)
            if score >= goal[b] then
              redis.call('HSET', finish[b], 'winner', member, 'at', now_ms)
              frozen[b] = true
            end
          end
        end
      elseif tonumber(ARGV[i + 2]) ~= 0 then
        local board_sums = sums[b]
        if not board_sums then
          board_sums = {}
          sums[b], last[b] = board_sums, {}
        end
        board_sums[member] = (board_sums[member] or 0) + tonumber(ARGV[i + 2])
        last[b][member] = seq
      end
      i = i + 3
    end
    if name ~= '' then redis.call('HSET', names, rep, name) end
    if team ~= '' then redis.call('HSET', teams, rep, team) end
  else
    counted[e] = 0
    i = i + 3 * n
  end
end

-- unpack() has a stack limit: write long argument lists a thousand values at a time, so no
-- batch, however many members it touches, can fail halfway.
local function in_chunks(command, key, values)
  for first = 1, #values, 1000 do
    redis.call(command, key, unpack(values, first, math.min(first + 999, #values)))
  end
end

local function build_index(b)
  local flat = redis.call('ZRANGE', board[b], 0, -1, 'WITHSCORES')
  local members = {}
  for f = 1, #flat, 2 do members[#members + 1] = flat[f] end
  local entries = {}
  for first = 1, #members, 1000 do
    local seqs = redis.call('HMGET', reached[b], unpack(members, first, math.min(first + 999, #members)))
    for s = 1, #seqs do
      local m = first + s - 1
      entries[#entries + 1] = flat[2 * m]
      entries[#entries + 1] = order_member(seqs[s] or 999999999999999, members[m])
    end
  end
  redis.call('DEL', order[b])
  in_chunks('ZADD', order[b], entries)
  local expire_at = redis.call('EXPIRETIME', board[b])
  if expire_at > 0 then redis.call('EXPIREAT', order[b], expire_at) end
end

for b, board_sums in pairs(sums) do
  local fields = {}
  for member, amount in pairs(board_sums) do
    local raw = redis.call('ZINCRBY', board[b], string.format('%.17g', amount), member)
    reorder(b, member, raw, last[b][member], redis.call('HGET', reached[b], member))
    fields[#fields + 1] = member
    fields[#fields + 1] = last[b][member]
  end
  in_chunks('HSET', reached[b], fields)
  if expire_at[b] ~= '0' then
    for _, written in ipairs({board[b], reached[b], order[b]}) do redis.call('EXPIREAT', written, expire_at[b]) end
  end
end
for b in pairs(written) do
  local size = redis.call('ZCARD', board[b])
  if size > SMALL and size <= REBUILD and redis.call('ZCARD', order[b]) ~= size then build_index(b) end
end
-- Without a log (`log_days: 0`), a log the org had before goes, as in apply-sums.lua.
if logged then redis.call('XTRIM', activity, 'MINID', '~', keep_from) else redis.call('UNLINK', activity) end
return counted
