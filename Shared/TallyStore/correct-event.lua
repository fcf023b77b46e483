-- Corrects one event in one atomic step: retracts it (takes back what it added) or amends it
-- (takes back what it added and adds what it now adds, netted per board and member by the
-- caller). The caller read the event's idempotency record and the contests' definitions
-- first; if either changed since (another correction, a contest ended early), nothing is
-- written and the caller reads again and recomputes. So two corrections of one event never
-- both take it back, and a resend of the event's batch still finds its id seen (`duplicate`).
--
-- A member whose score the correction brings back to 0 leaves the board; every member it
-- touches gets the correction's sequence as its "reached" (it reached its new score now);
-- no other member's order changes. A race that has finished is left as it is. Every write
-- to a board moves the org's sequence (`INCR`): readers that cache answers check it.
--
-- KEYS: the event's idempotency record, the activity log, the org's sequence, the board
--   index, the contests hash, then each board's sorted set, its reached hash and its order
--   index, then the finish hash of each race, in the order of the races among the boards.
-- ARGV: the idempotency record as read, the new log entry, now (ms), the oldest log id to
--   keep (ms), contests to check (count, then id and definition JSON as read), index ids
--   (count, ids), boards (count, then per board: expire-at or 0, the race's goal or '',
--   member count, then per member: member, amount).
-- Returns {1, log id} (done) or {0} (something changed since the caller read: read again).
local seen, activity, sequence, index, contests = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local expected, entry, now_ms, keep_from = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if redis.call('GET', seen) ~= expected then return {0} end
local i = 5
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  if redis.call('HGET', contests, ARGV[i]) ~= ARGV[i + 1] then return {0} end
  i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do redis.call('SADD', index, ARGV[i]); i = i + 1 end

local seq = redis.call('INCR', sequence)

-- The log entry: '<ms>-<n>' after the log's last (see apply-sums.lua).
local id_ms, id_seq = now_ms, -1
local last = redis.call('XREVRANGE', activity, '+', '-', 'COUNT', 1)[1]
if last then
  local ms, sq = string.match(last[1], '^(%d+)-(%d+)$')
  if tonumber(ms) >= id_ms then id_ms, id_seq = tonumber(ms), tonumber(sq) end
end
local log_id = string.format('%d-%d', id_ms, id_seq + 1)
redis.call('XADD', activity, log_id, 'e', entry)
redis.call('XTRIM', activity, 'MINID', '~', keep_from)
redis.call('SET', seen, expected .. ' ' .. log_id, 'KEEPTTL')

local function order_member(reached_seq, member)
  return string.format('%015d', 999999999999999 - tonumber(reached_seq)) .. member
end
-- Boards of more than SMALL members keep an order index (see apply-sums.lua).
local SMALL, REBUILD = 128, 10000
local function build_index(board, reached, order)
  local flat = redis.call('ZRANGE', board, 0, -1, 'WITHSCORES')
  redis.call('DEL', order)
  for f = 1, #flat, 2 do
    local s = redis.call('HGET', reached, flat[f])
    redis.call('ZADD', order, flat[f + 1], order_member(s or 999999999999999, flat[f]))
  end
end

local n_boards = tonumber(ARGV[i]); i = i + 1
local race = 5 + 3 * n_boards
for b = 1, n_boards do
  local at = 5 + 3 * (b - 1)
  local board, reached, order = KEYS[at + 1], KEYS[at + 2], KEYS[at + 3]
  local expire_at, goal, n_members = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local finish, frozen = nil, false
  if goal ~= '' then
    race = race + 1
    finish = KEYS[race]
    frozen = redis.call('EXISTS', finish) == 1
  end
  local indexed = redis.call('ZCARD', order) > 0
  for _ = 1, n_members do
    local member, amount = ARGV[i], ARGV[i + 1]
    i = i + 2
    local old = redis.call('ZSCORE', board, member)
    -- Nothing to take back from a member that is not there (its board expired).
    if not frozen and (old or tonumber(amount) > 0) then
      local old_seq = redis.call('HGET', reached, member)
      local score = tonumber(redis.call('ZINCRBY', board, amount, member))
      if indexed and old_seq then redis.call('ZREM', order, order_member(old_seq, member)) end
      if math.abs(score) <= 1e-9 * math.max(1, math.abs(tonumber(old or 0))) then
        redis.call('ZREM', board, member)
        redis.call('HDEL', reached, member)
      else
        redis.call('HSET', reached, member, seq)
        if indexed then redis.call('ZADD', order, score, order_member(seq, member)) end
        if finish and score >= tonumber(goal) then
          redis.call('HSET', finish, 'winner', member, 'at', now_ms)
          frozen = true
        end
      end
    end
  end
  local size = redis.call('ZCARD', board)
  if not indexed and size > SMALL and size <= REBUILD then build_index(board, reached, order) end
  if expire_at ~= '0' then
    for _, written in ipairs({board, reached, order}) do
      if redis.call('EXISTS', written) == 1 then redis.call('EXPIREAT', written, expire_at) end
    end
  end
end
return {1, log_id}
