-- Reads a board: a page of entries in rank order, one member's rank, or the entries around a
-- member. Ranks are competition ranks (1, 2, 2, 4); among equal scores the member that reached
-- its score first comes first (lowest sequence number in the board's reached hashes). A
-- rolling board is first summed from its days' boards into its own short-lived key.
--
-- KEYS: the board (for a rolling board, where its days are summed), then the day boards to
--   sum (none for other boards), then the reached hashes, then the names hash when the
--   board's members are reps.
-- ARGV: mode (page, rank, around), offset or n, limit, member, day count, reached count,
--   1 when the names hash is given, else 0.
-- Replies: page and around {total, {rank, member, score, name}...}; rank {total, rank, score},
--   or {total} when the member is not on the board.
local key = KEYS[1]
local mode, a, b, member = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local n_days, n_reached = tonumber(ARGV[5]), tonumber(ARGV[6])
local names = ARGV[7] == '1' and KEYS[2 + n_days + n_reached] or nil
if n_days > 0 then
  redis.call('ZUNIONSTORE', key, n_days, unpack(KEYS, 2, 1 + n_days))
  redis.call('PEXPIRE', key, 1000)
end
local reached = {}
for r = 1, n_reached do reached[r] = KEYS[1 + n_days + r] end

local function hmget(hash, fields)
  local out = {}
  for start = 1, #fields, 1000 do
    local chunk = {}
    for f = start, math.min(start + 999, #fields) do chunk[#chunk + 1] = fields[f] end
    local values = redis.call('HMGET', hash, unpack(chunk))
    for v = 1, #values do out[#out + 1] = values[v] end
  end
  return out
end

-- The members whose scores lie in [low, high], in rank order, with their positions.
local function ordered(high, low)
  local group = redis.call('ZREVRANGEBYSCORE', key, high, low, 'WITHSCORES')
  local rows, members = {}, {}
  for g = 1, #group, 2 do
    rows[#rows + 1] = {member = group[g], raw = group[g + 1], score = tonumber(group[g + 1]), seq = math.huge}
    members[#members + 1] = group[g]
  end
  if #members > 0 then
    for _, hash in ipairs(reached) do
      local seqs = hmget(hash, members)
      for r = 1, #rows do
        local s = tonumber(seqs[r])
        -- A rolling board's member reached its sum at its latest change in any day.
        if s and (rows[r].seq == math.huge or s > rows[r].seq) then rows[r].seq = s end
      end
    end
  end
  table.sort(rows, function(x, y)
    if x.score ~= y.score then return x.score > y.score end
    if x.seq ~= y.seq then return x.seq < y.seq end
    return x.member < y.member
  end)
  return rows
end

local total = redis.call('ZCARD', key)

if mode == 'rank' then
  local score = redis.call('ZSCORE', key, member)
  if not score then return {total} end
  return {total, redis.call('ZCOUNT', key, '(' .. score, '+inf') + 1, score}
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
local high, low = page[2], page[#page]
local above = redis.call('ZCOUNT', key, '(' .. high, '+inf')
local rows = ordered(high, low)
local out, picked = {total}, {}
local rank, previous = 0, nil
for r, row in ipairs(rows) do
  if row.score ~= previous then rank, previous = above + r, row.score end
  local position = above + r - 1
  if position >= offset and position < offset + limit then
    out[#out + 1] = rank
    out[#out + 1] = row.member
    out[#out + 1] = row.raw
    out[#out + 1] = row.member
    picked[#picked + 1] = #out
  end
end
if names and #picked > 0 then
  local wanted = {}
  for p = 1, #picked do wanted[p] = out[picked[p]] end
  local found = hmget(names, wanted)
  for p = 1, #picked do if found[p] then out[picked[p]] = found[p] end end
end
return out
