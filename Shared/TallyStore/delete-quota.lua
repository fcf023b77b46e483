-- Deletes one quota; moves the org's version only when there was one.
-- KEYS[1] {org}:seq, KEYS[2] {org}:quotas, KEYS[3] {org}:quota:<board>
-- ARGV[1] the board id, ARGV[2] the field: member or "<member>#<period>"
-- Returns 1 when deleted, 0 when there was no such quota.
if redis.call('HDEL', KEYS[3], ARGV[2]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
redis.call('INCR', KEYS[1])
return 1
