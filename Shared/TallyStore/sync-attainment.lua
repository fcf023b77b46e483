-- Brings attainment boards (`attainment:<metric>:<window>:<scope>`) in line with their metric
-- boards and quotas for the members given: a member's attainment in a period is its score on
-- the metric board ÷ its target, kept as a board of its own (a sorted set, its reached hash and
-- its order index, as the scoring scripts keep every board) so a page costs what any board's
-- page costs. It is derived state: run twice, it changes nothing the second time, so callers
-- run it right after the write it follows (in the same pipeline) and again whenever in doubt.
--
-- A period's target for a member is recorded in the period's targets hash the first time the
-- member is synced there: the period's own quota (`ana#2026-12`), else the default (`ana`).
-- Mode `score` (after scores moved) keeps a recorded target, so a past period keeps the target
-- it was reached against; mode `quota` (after quotas were put or deleted) looks the target up
-- again, and drops the member from the board when it has no quota left there.
--
-- Equal attainment ranks first-reached first: after a score moved, the member reached its new
-- attainment when it reached its new score (the metric board's reached sequence); after a quota
-- moved, now (one INCR of the org's sequence, which is also its version for cached reads).
--
-- Milestones: crossing one of the rules' milestones upwards after a score moved is returned
-- for the caller to announce, the highest crossed only, and recorded so that it is announced
-- once per member, board and period however the score moves after. After a quota moved the
-- milestones now passed are recorded without being announced: setting a quota mid-month is not
-- the rep's achievement.
--
-- KEYS: the org's quota index, its sequence, its board index, then per board eight keys: the
--   quota hash, the metric board, the metric board's reached hash, the period's targets hash,
--   the attainment board, its reached hash, its order index, its milestones hash.
-- ARGV: mode (`score` or `quota`), milestones (count, then each, ascending), boards (count, then
--   per board: the attainment board's id, the period, expire-at or 0, member count, members).
-- Returns {the numbers (1-based) of the boards written, a flat list of crossings: board number,
--   member, attainment, milestone}.
local quotas, sequence, index = KEYS[1], KEYS[2], KEYS[3]
local mode = ARGV[1]
-- An org without quotas: nothing to do. (Scoring checks this before it calls; a quota
-- deleted since lands here.)
if mode == 'score' and redis.call('EXISTS', quotas) == 0 then return {{}, {}} end
local i = 2
local milestones = {}
local n = tonumber(ARGV[i]); i = i + 1
for m = 1, n do milestones[m] = tonumber(ARGV[i]); i = i + 1 end

local function order_member(reached_seq, member)
  return string.format('%015d', 999999999999999 - tonumber(reached_seq)) .. member
end
-- unpack() has a stack limit: write long argument lists a thousand values at a time.
local function in_chunks(command, key, values)
  for first = 1, #values, 1000 do
    redis.call(command, key, unpack(values, first, math.min(first + 999, #values)))
  end
end
-- Boards of more than SMALL members keep an order index (see apply-sums.lua, same rule).
local SMALL, REBUILD = 128, 10000
local function build_index(board, reached, order)
  local flat = redis.call('ZRANGE', board, 0, -1, 'WITHSCORES')
  local entries = {}
  for f = 1, #flat, 2 do
    local s = redis.call('HGET', reached, flat[f])
    entries[#entries + 1] = flat[f + 1]
    entries[#entries + 1] = order_member(s or 999999999999999, flat[f])
  end
  redis.call('DEL', order)
  in_chunks('ZADD', order, entries)
end

local now_seq = nil
local function quota_seq()
  if not now_seq then now_seq = redis.call('INCR', sequence) end
  return now_seq
end

local crossings, boards_written = {}, {}
local n_boards = tonumber(ARGV[i]); i = i + 1
for b = 1, n_boards do
  local k = 3 + 8 * (b - 1)
  local quota, metric, metric_reached, targets = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local board, reached, order, passed = KEYS[k + 5], KEYS[k + 6], KEYS[k + 7], KEYS[k + 8]
  local id, period, expire_at, n_members = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  local first_member = i
  i = i + n_members
  -- A board no quota was ever set on costs two EXISTS.
  if mode == 'quota' or redis.call('EXISTS', quota) == 1 or redis.call('EXISTS', targets) == 1 then
    local indexed = redis.call('ZCARD', order) > 0
    local written = false
    for m = first_member, first_member + n_members - 1 do
      local member = ARGV[m]
      local target = mode == 'score' and redis.call('HGET', targets, member) or nil
      if not target then
        local found = redis.call('HMGET', quota, member .. '#' .. period, member)
        target = found[1] or found[2]
        if target then
          redis.call('HSET', targets, member, target)
        elseif mode == 'quota' then
          redis.call('HDEL', targets, member)
        end
      end
      local old = redis.call('ZSCORE', board, member)
      local old_seq = old and redis.call('HGET', reached, member)
      if target then
        local attainment = tonumber(redis.call('ZSCORE', metric, member) or '0') / tonumber(target)
        local raw = string.format('%.17g', attainment)
        if raw ~= old then
          local seq = mode == 'score' and redis.call('HGET', metric_reached, member) or quota_seq()
          redis.call('ZADD', board, raw, member)
          redis.call('HSET', reached, member, seq)
          if indexed then
            if old_seq then redis.call('ZREM', order, order_member(old_seq, member)) end
            redis.call('ZADD', order, raw, order_member(seq, member))
          end
          written = true
          -- The highest milestone now passed, if it is above the highest recorded.
          local highest = nil
          for _, milestone in ipairs(milestones) do
            if attainment >= milestone then highest = milestone end
          end
          -- (Passed at the attainment before, it was recorded then.)
          if highest and old and tonumber(old) >= highest then highest = nil end
          local recorded = highest and tonumber(redis.call('HGET', passed, member) or '0') or 0
          if highest and highest > recorded then
            redis.call('HSET', passed, member, string.format('%.17g', highest))
            if mode == 'score' and tonumber(old or '0') < highest then
              crossings[#crossings + 1] = b
              crossings[#crossings + 1] = member
              crossings[#crossings + 1] = raw
              crossings[#crossings + 1] = string.format('%.17g', highest)
            end
          end
        end
      elseif old then
        -- No quota left for the member in this period: it leaves the board.
        redis.call('ZREM', board, member)
        redis.call('HDEL', reached, member)
        if indexed and old_seq then redis.call('ZREM', order, order_member(old_seq, member)) end
        quota_seq()
        written = true
      end
    end
    if written then
      boards_written[#boards_written + 1] = b
      redis.call('SADD', index, id)
      local size = redis.call('ZCARD', board)
      if size > SMALL and size <= REBUILD and redis.call('ZCARD', order) ~= size then build_index(board, reached, order) end
      if expire_at ~= '0' then
        for _, key in ipairs({board, reached, order, targets, passed}) do
          if redis.call('EXISTS', key) == 1 then redis.call('EXPIREAT', key, expire_at) end
        end
      end
    end
  end
end
return {boards_written, crossings}
