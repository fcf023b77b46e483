#!lua flags=no-writes
-- Reads a board: a page of entries in rank order, one member's rank, or the entries around a
-- member. Ranks are competition ranks (1, 2, 2, 4); among equal scores the member that reached
-- its score first comes first. Nothing is written (the script may run on a replica).
--
-- A stored board of more than 128 members has an order index beside it, kept by the scoring
-- scripts: a sorted set with the same scores whose members are the reached sequence, inverted
-- and zero-padded, then the member, so Redis itself sorts equal scores by who got there first
-- (a reverse range lists the largest member first, that is the smallest sequence). A page then
-- costs its own length whatever the ties. A smaller board has none (the scoring scripts build it as a board grows
-- past that), nor has one written before indexes existed: such a board is read by its page,
-- widened to the groups of equal scores at its edges. A rolling board (7d, 30d) has no index
-- either: it is summed from its days' boards here, in memory, and ordered in Lua.
--
-- The org's sequence is its version: every write of a board or a name moves it. A caller that
-- kept an earlier answer passes the version it was read at, and while the sequence still holds
-- that value the script answers with the version alone, before reading anything.
--
-- Quotas: a calendar board's entries carry each member's target where it has one (from the
-- period's targets hash, see sync-attainment.lua); an attainment board's, the target and the
-- member's score on the metric board (its own score is the attainment).
--
-- KEYS: the board and its order index (for a rolling board, neither is stored), then the day
--   boards to sum (none for other boards), then the reached hashes (one per day for a rolling
--   board), then the names hash when the board's members are reps, then the targets hash for
--   extras `t` and `a`, then the metric board for extras `a`, then the org's sequence.
-- ARGV: mode (page, rank, around), offset or n, limit, member, day count, reached count,
--   1 when the names hash is given, else 0, extras ('' none, `t` targets, `a` attainment),
--   the version the caller holds ('' for none).
-- Replies start with the version read ('' when the org has none yet), then: page and around
--   {total, {rank, member, score, name[, target, metric score]}...}; rank {total, rank, score[,
--   target, metric score]}, or {total} when the member is not on the board; a target or
--   metric score the member lacks is ''. {version} alone: unchanged since the version the
--   caller holds.
local version = redis.call('GET', KEYS[#KEYS]) or ''
if version ~= '' and version == ARGV[9] then return {version} end
local extras = ARGV[8]
local extra_at = 3 + tonumber(ARGV[5]) + tonumber(ARGV[6]) + (ARGV[7] == '1' and 1 or 0)
local targets = extras ~= '' and KEYS[extra_at] or nil
local metric = extras == 'a' and KEYS[extra_at + 1] or nil
-- A rank on a stored board, first and alone: the read most often asked, three commands.
if ARGV[1] == 'rank' and ARGV[5] == '0' then
  local total = redis.call('ZCARD', KEYS[1])
  local score = redis.call('ZSCORE', KEYS[1], ARGV[4])
  if not score then return {version, total} end
  local answer = {version, total, redis.call('ZCOUNT', KEYS[1], '(' .. score, '+inf') + 1, score}
  if targets then
    answer[5] = redis.call('HGET', targets, ARGV[4]) or ''
    answer[6] = metric and redis.call('ZSCORE', metric, ARGV[4]) or ''
  end
  return answer
end
local key, order = KEYS[1], KEYS[2]
local mode, a, b, member = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local n_days, n_reached = tonumber(ARGV[5]), tonumber(ARGV[6])
local names = ARGV[7] == '1' and KEYS[3 + n_days + n_reached] or nil
local days = {}
for d = 1, n_days do days[d] = KEYS[2 + d] end
local reached = {}
for r = 1, n_reached do reached[r] = KEYS[2 + n_days + r] end
local PAD = 15  -- the width of an order index member's sequence prefix

local function hmget(hash, fields)
  local out = {}
  for start = 1, #fields, 1000 do
    local values = redis.call('HMGET', hash, unpack(fields, start, math.min(start + 999, #fields)))
    for v = 1, #values do out[#out + 1] = values[v] end
  end
  return out
end

-- Rank order: higher score first, then first reached (lowest sequence), then member.
local function rank_order(x, y)
  if x.score ~= y.score then return x.score > y.score end
  if x.seq ~= y.seq then return x.seq < y.seq end
  return x.member < y.member
end

-- Fills in each row's name (the member when the rep has none) and returns the reply.
local function reply(total, rows)
  local out = {total}
  if names and #rows > 0 then
    local members = {}
    for r = 1, #rows do members[r] = rows[r].member end
    local found = hmget(names, members)
    for r = 1, #rows do rows[r].name = found[r] end
  end
  local goals, scores = {}, {}
  if targets and #rows > 0 then
    local members = {}
    for r = 1, #rows do members[r] = rows[r].member end
    goals = hmget(targets, members)
    if metric then
      for start = 1, #members, 1000 do
        local values = redis.call('ZMSCORE', metric, unpack(members, start, math.min(start + 999, #members)))
        for v = 1, #values do scores[start + v - 1] = values[v] end
      end
    end
  end
  for r, row in ipairs(rows) do
    out[#out + 1] = row.rank
    out[#out + 1] = row.member
    out[#out + 1] = row.raw
    out[#out + 1] = row.name or row.member
    if targets then
      out[#out + 1] = goals[r] or ''
      out[#out + 1] = scores[r] or ''
    end
  end
  return out
end

-- The rows at positions offset .. offset+limit-1 of an index range read, with competition
-- ranks: the first row's comes from the count of higher scores, each later row's from its
-- position unless it ties the row before.
local function ranked(range, offset)
  local rows, above = {}, 0
  if #range > 0 and offset > 0 then above = redis.call('ZCOUNT', order, '(' .. range[2], '+inf') end
  local rank, previous = 0, nil
  for r = 1, #range, 2 do
    local position = offset + (r - 1) / 2
    local raw = range[r + 1]
    if raw ~= previous then
      rank = previous == nil and above + 1 or position + 1
      previous = raw
    end
    rows[#rows + 1] = {rank = rank, member = string.sub(range[r], PAD + 1), raw = raw}
  end
  return rows
end

local function indexed(total)
  local offset, limit = a, b
  if mode == 'around' then
    local seq = redis.call('HGET', reached[1], member)
    local position = seq and redis.call('ZREVRANK', order, string.format('%0' .. PAD .. 'd', 999999999999999 - seq) .. member)
    if not position then return {total} end
    limit = 2 * a + 1
    offset = math.max(0, math.min(position - a, total - limit))
  end
  if limit == 0 or offset >= total then return {total} end
  return reply(total, ranked(redis.call('ZREVRANGE', order, offset, offset + limit - 1, 'WITHSCORES'), offset))
end

-- A stored board without an index (up to 128 members, or written before indexes existed): the
-- page from the board, widened to the whole groups of equal scores at its edges and ordered by
-- reached sequence, so it costs the page and those groups.
local function unindexed(total)
  local function ordered(high, low)
    local group = redis.call('ZREVRANGEBYSCORE', key, high, low, 'WITHSCORES')
    local rows, members = {}, {}
    for g = 1, #group, 2 do
      rows[#rows + 1] = {member = group[g], raw = group[g + 1], score = tonumber(group[g + 1])}
      members[#members + 1] = group[g]
    end
    local seqs = #members > 0 and hmget(reached[1], members) or {}
    for r = 1, #rows do rows[r].seq = tonumber(seqs[r]) or math.huge end
    table.sort(rows, rank_order)
    return rows
  end
  local offset, limit = a, b
  if mode == 'around' then
    local score = redis.call('ZSCORE', key, member)
    if not score then return {total} end
    local above = redis.call('ZCOUNT', key, '(' .. score, '+inf')
    local position = above
    for index, row in ipairs(ordered(score, score)) do
      if row.member == member then position = above + index - 1 end
    end
    limit = 2 * a + 1
    offset = math.max(0, math.min(position - a, total - limit))
  end
  if limit == 0 or offset >= total then return {total} end
  local page = redis.call('ZREVRANGE', key, offset, offset + limit - 1, 'WITHSCORES')
  local above = redis.call('ZCOUNT', key, '(' .. page[2], '+inf')
  local picked, rank, previous = {}, 0, nil
  for r, row in ipairs(ordered(page[2], page[#page])) do
    if row.score ~= previous then rank, previous = above + r, row.score end
    local position = above + r - 1
    if position >= offset and position < offset + limit then
      row.rank = rank
      picked[#picked + 1] = row
    end
  end
  return reply(total, picked)
end

-- A rolling board: every member of its days with its sum, highest first, summed here; equal
-- scores ordered by the latest of their reached sequences, fetched only for the groups the
-- answer needs. It costs the members of its days.
local function summed()
  local union = {'ZUNION', n_days}
  for d = 1, n_days do union[#union + 1] = days[d] end
  union[#union + 1] = 'WITHSCORES'
  local flat = redis.call(unpack(union))
  local rows = {}
  for r = #flat - 1, 1, -2 do
    rows[#rows + 1] = {member = flat[r], raw = flat[r + 1], score = tonumber(flat[r + 1])}
  end
  local total = #rows
  local function find(wanted)
    for r = 1, total do if rows[r].member == wanted then return r end end
  end
  if mode == 'rank' then
    local at = find(member)
    if not at then return {total} end
    local above = 0
    while rows[above + 1].score > rows[at].score do above = above + 1 end
    return {total, above + 1, rows[at].raw}
  end
  -- Orders rows first..last (whole groups of equal scores) by reached sequence.
  local function order_groups(first, last)
    while first > 1 and rows[first - 1].score == rows[first].score do first = first - 1 end
    while last < total and rows[last + 1].score == rows[last].score do last = last + 1 end
    local group, members = {}, {}
    for r = first, last do
      group[#group + 1] = rows[r]
      members[#members + 1] = rows[r].member
      rows[r].seq = math.huge
    end
    for _, hash in ipairs(reached) do
      local seqs = hmget(hash, members)
      for g = 1, #group do
        local s = tonumber(seqs[g])
        -- A rolling board's member reached its sum at its latest change in any day.
        if s and (group[g].seq == math.huge or s > group[g].seq) then group[g].seq = s end
      end
    end
    table.sort(group, rank_order)
    for g = 1, #group do rows[first + g - 1] = group[g] end
  end
  local offset, limit = a, b
  if mode == 'around' then
    local at = find(member)
    if not at then return {total} end
    order_groups(at, at)
    at = find(member)
    limit = 2 * a + 1
    offset = math.max(0, math.min(at - 1 - a, total - limit))
  end
  if limit == 0 or offset >= total then return {total} end
  local last = math.min(offset + limit, total)
  order_groups(offset + 1, last)
  local page, rank = {}, 0
  for r = 1, last do
    if r == 1 or rows[r].score ~= rows[r - 1].score then rank = r end
    if r > offset then
      rows[r].rank = rank
      page[#page + 1] = rows[r]
    end
  end
  return reply(total, page)
end

local function read()
  if n_days > 0 then return summed() end
  local total = redis.call('ZCARD', key)
  if total > 0 and redis.call('ZCARD', order) == total then return indexed(total) end
  return unindexed(total)
end

local answer = read()
table.insert(answer, 1, version)
return answer
