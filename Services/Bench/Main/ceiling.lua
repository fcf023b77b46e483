-- The benchmark's Redis ceiling: what a hand-written pipeline would do per event, in one call.
-- Records the event id, then applies its board increments with the first-reached sequence and
-- keeps each board's order index (the same layout as Tally's, so reads are the same), or, with
-- ARGV[2] = 0, not (what the boards cost without it, as before the index).
--
-- KEYS[1]          the event's seen key (SET NX with an expiry: a resend counts once)
-- KEYS[2]          the org's sequence counter
-- KEYS[3 .. 2+n]   the n boards (sorted sets) the event adds to
-- KEYS[3+n .. 2+2n] each board's first-reached hash, in the same order
-- KEYS[3+2n .. 2+3n] each board's order index, in the same order
-- ARGV[1]          seconds the seen key lives
-- ARGV[2]          1: keep the order indexes; 0: leave them
-- ARGV[2i+1], ARGV[2i+2]  board i's increment and member
--
-- Returns 1 when applied, 0 for a duplicate. Alone:
--   redis-cli --eval ceiling.lua seen:e1 seq board:a reached:a order:a , 864000 1 5 rep-1
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local seq = redis.call('INCR', KEYS[2])
local n = (#KEYS - 2) / 3
local function order_member(s, member) return string.format('%015d', 999999999999999 - tonumber(s)) .. member end
-- As Tally's scripts: an index only for boards of more than 128 members, built as they pass it.
local function build_index(board, reached, order)
  local flat = redis.call('ZRANGE', board, 0, -1, 'WITHSCORES')
  for f = 1, #flat, 2 do
    local s = redis.call('HGET', reached, flat[f]) or 999999999999999
    redis.call('ZADD', order, flat[f + 1], order_member(s, flat[f]))
  end
end
for i = 1, n do
  local member = ARGV[2 * i + 2]
  local score = redis.call('ZINCRBY', KEYS[2 + i], ARGV[2 * i + 1], member)
  local indexed = ARGV[2] == '1' and redis.call('ZCARD', KEYS[2 + 2 * n + i]) > 0
  if indexed then
    local before = redis.call('HGET', KEYS[2 + n + i], member)
    if before then redis.call('ZREM', KEYS[2 + 2 * n + i], order_member(before, member)) end
    redis.call('ZADD', KEYS[2 + 2 * n + i], score, order_member(seq, member))
  end
  redis.call('HSET', KEYS[2 + n + i], member, seq)
  if ARGV[2] == '1' and not indexed and redis.call('ZCARD', KEYS[2 + i]) > 128 then
    build_index(KEYS[2 + i], KEYS[2 + n + i], KEYS[2 + 2 * n + i])
  end
end
return 1
