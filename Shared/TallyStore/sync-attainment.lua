-- Brings attainment boards (`attainment:<metric>:<window>:<scope>`) in line with their metric
-- boards and quotas for the members given: a member's attainment in a period is its score on
-- the metric board ÷ its target, kept as a board of its own (a sorted set, its reached hash and
-- its order index, as the scoring scripts keep every board) so a page costs what any board's
-- page costs. It is derived state: run twice, it changes nothing the second time, so callers
-- run it right after the write it follows (in its pipeline or the next) and again whenever in doubt.
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
-- unpack() has a stack limit: send long argument lists a thousand values at a time (pairs
-- stay whole). Answers the replies' values joined, for the commands that answer per value.
local function in_chunks(command, key, values)
  local out = {}
  for first = 1, #values, 1000 do
    local reply = redis.call(command, key, unpack(values, first, math.min(first + 999, #values)))
    if type(reply) == 'table' then
      for v = 1, #reply do out[#out + 1] = reply[v] end
    end
  end
  return out
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
    local members = {}
    for m = first_member, first_member + n_members - 1 do members[#members + 1] = ARGV[m] end
    -- What each member has now, read for all of them at once: a command per board, not per
    -- member (a call of redis.call costs more than what most of these commands do).
    local found = mode == 'score' and in_chunks('HMGET', targets, members) or {}
    local lookups, looked_up = {}, {}
    for j, member in ipairs(members) do
      if not found[j] then
        looked_up[#looked_up + 1] = j
        lookups[#lookups + 1] = member .. '#' .. period
        lookups[#lookups + 1] = member
      end
    end
    local recorded_targets, dropped_targets = {}, {}
    if #lookups > 0 then
      local quotas_found = in_chunks('HMGET', quota, lookups)
      for q, j in ipairs(looked_up) do
        local target = quotas_found[2 * q - 1] or quotas_found[2 * q]
        found[j] = target
        if target then
          recorded_targets[#recorded_targets + 1] = members[j]
          recorded_targets[#recorded_targets + 1] = target
        elseif mode == 'quota' then
          dropped_targets[#dropped_targets + 1] = members[j]
        end
      end
    end
    if #recorded_targets > 0 then in_chunks('HSET', targets, recorded_targets) end
    if #dropped_targets > 0 then in_chunks('HDEL', targets, dropped_targets) end
    local olds = in_chunks('ZMSCORE', board, members)
    local old_seqs = in_chunks('HMGET', reached, members)
    local scores = in_chunks('ZMSCORE', metric, members)
    local metric_seqs = mode == 'score' and in_chunks('HMGET', metric_reached, members) or {}

    local added, seqs, unordered, ordered, removed = {}, {}, {}, {}, {}
    for j, member in ipairs(members) do
      local target, old, old_seq = found[j], olds[j], old_seqs[j]
      if target then
        local attainment = tonumber(scores[j] or '0') / tonumber(target)
        local raw = string.format('%.17g', attainment)
        if not old or tonumber(raw) ~= tonumber(old) then
          local seq = mode == 'score' and metric_seqs[j] or quota_seq()
          added[#added + 1] = raw
          added[#added + 1] = member
          seqs[#seqs + 1] = member
          seqs[#seqs + 1] = seq
          if indexed then
            if old_seq then unordered[#unordered + 1] = order_member(old_seq, member) end
            ordered[#ordered + 1] = raw
            ordered[#ordered + 1] = order_member(seq, member)
          end
          -- The highest milestone now passed, if it is above the highest recorded. (Passed
          -- at the attainment before, it was recorded then.)
          local highest = nil
          for _, milestone in ipairs(milestones) do
            if attainment >= milestone then highest = milestone end
          end
          if highest and old and tonumber(old) >= highest then highest = nil end
          local recorded = highest and tonumber(redis.call('HGET', passed, member) or '0') or 0
          if highest and highest > recorded then
            redis.call('HSET', passed, member, string.format('%.17g', highest))
            if mode == 'score' then
              crossings[#crossings + 1] = b
              crossings[#crossings + 1] = member
              crossings[#crossings + 1] = raw
              crossings[#crossings + 1] = string.format('%.17g', highest)
            end
          end
        end
      elseif old then
        -- No quota left for the member in this period: it leaves the board.
        removed[#removed + 1] = member
        if indexed and old_seq then unordered[#unordered + 1] = order_member(old_seq, member) end
        quota_seq()
      end
    end
    if #unordered > 0 then in_chunks('ZREM', order, unordered) end
    if #removed > 0 then
      in_chunks('ZREM', board, removed)
      in_chunks('HDEL', reached, removed)
    end
    if #added > 0 then
      in_chunks('ZADD', board, added)
      in_chunks('HSET', reached, seqs)
      if #ordered > 0 then in_chunks('ZADD', order, ordered) end
    end
    local written = #added > 0 or #removed > 0
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
