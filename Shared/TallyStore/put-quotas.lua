-- Saves a batch of quotas, already checked, in one step, and moves the org's version.
-- KEYS[1] {org}:seq                the org's version: every write that can change an answer moves it
-- KEYS[2] {org}:quotas             the board ids that have quotas
-- KEYS[3..] {org}:quota:<board>    one hash per board: member or "<member>#<period>" → target
-- ARGV: the board id of each hash (KEYS[3], KEYS[4], ...), then for every quota three
--       arguments: its hash's number (1 = KEYS[3]), its field, its target.
-- Returns how many quotas were saved.
local hashes = #KEYS - 2
for i = 1, hashes do
  redis.call('SADD', KEYS[2], ARGV[i])
end
local saved = 0
for i = hashes + 1, #ARGV, 3 do
  redis.call('HSET', KEYS[2 + tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
  saved = saved + 1
end
redis.call('INCR', KEYS[1])
return saved
