-- Stores a new org token, under the org's cap, in one step.
-- KEYS[1] {org}:tokens        id → the token's record (JSON, with its hash)
-- KEYS[2] {org}:token-hashes  SHA-256 of the value (hex) → "<id> <role>"
-- ARGV: id, record, hash, "<id> <role>", the most tokens an org may have
-- Returns 1 when stored, 0 when the org has its most tokens, -1 when the id or hash is taken.
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return 0 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then return -1 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
