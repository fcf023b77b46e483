import Redis
import TallyDomain

/// Applies a scoring plan to Redis in one script call: each event is counted once per org id
/// (its idempotency record is set in the same atomic step as its increments), so a batch
/// applied twice changes nothing the second time.
struct BoardWriter {
    /// ARGV: prefix, idempotency TTL (s), index ids (count, ids...), boards (count, then id,
    /// period, expire-at-or-0, race goal-or-empty, race finish key-or-empty each), now (ms),
    /// events (count, then id, rep, name, team, increment count,
    /// then board index, member, amount per increment). KEYS[1] is the org's board index; every
    /// other key shares its hash tag, so the script stays inside one cluster slot.
    /// Returns 1 (counted) or 0 (duplicate) per event.
    static let script = RedisScript(#"""
        local prefix, seen_ttl = ARGV[1], ARGV[2]
        local i = 3
        local n_index = tonumber(ARGV[i]); i = i + 1
        for _ = 1, n_index do redis.call('SADD', KEYS[1], ARGV[i]); i = i + 1 end
        local n_boards = tonumber(ARGV[i]); i = i + 1
        local boards, expire_at, goal, finish, frozen = {}, {}, {}, {}, {}
        for b = 1, n_boards do
          boards[b] = ARGV[i] .. (ARGV[i + 1] ~= '' and (':' .. ARGV[i + 1]) or '')
          expire_at[b] = ARGV[i + 2]
          if ARGV[i + 3] ~= '' then
            goal[b], finish[b] = tonumber(ARGV[i + 3]), ARGV[i + 4]
            frozen[b] = redis.call('EXISTS', finish[b]) == 1
          end
          i = i + 5
        end
        local now_ms = ARGV[i]; i = i + 1
        local n_events = tonumber(ARGV[i]); i = i + 1
        local seq = redis.call('INCRBY', prefix .. 'seq', n_events) - n_events
        -- Sum what the new events add per board and member, so each member of each board
        -- costs one ZINCRBY however many events of the batch touch it.
        local sums, last, counted = {}, {}, {}
        for e = 1, n_events do
          local id, rep, name, team, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
          i = i + 5
          if redis.call('SET', prefix .. 'seen:' .. id, '1', 'NX', 'EX', seen_ttl) then
            counted[e] = 1
            seq = seq + 1
            for _ = 1, n do
              local b, member = tonumber(ARGV[i]), ARGV[i + 1]
              if goal[b] then
                -- A race: applied event by event, so the first to reach the goal wins.
                if not frozen[b] then
                  local board = prefix .. 'board:' .. boards[b]
                  local score = tonumber(redis.call('ZINCRBY', board, ARGV[i + 2], member))
                  redis.call('HSET', prefix .. 'reached:' .. boards[b], member, seq)
                  if score >= goal[b] then
                    redis.call('HSET', finish[b], 'winner', member, 'at', now_ms)
                    frozen[b] = true
                  end
                end
              else
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
            if name ~= '' then redis.call('HSET', prefix .. 'names', rep, name) end
            if team ~= '' then redis.call('HSET', prefix .. 'teams', rep, team) end
          else
            counted[e] = 0
            i = i + 3 * n
          end
        end
        for b, board_sums in pairs(sums) do
          local board, reached = prefix .. 'board:' .. boards[b], prefix .. 'reached:' .. boards[b]
          local fields = {}
          for member, amount in pairs(board_sums) do
            redis.call('ZINCRBY', board, string.format('%.17g', amount), member)
            fields[#fields + 1] = member
            fields[#fields + 1] = last[b][member]
          end
          redis.call('HSET', reached, unpack(fields))
          if expire_at[b] ~= '0' then
            redis.call('EXPIREAT', board, expire_at[b])
            redis.call('EXPIREAT', reached, expire_at[b])
          end
        end
        return counted
        """#)

    /// Applies the plan; returns, per planned event, whether it was counted (false: duplicate).
    static func apply(_ plan: ScoringPlan, rules: Rules, indexIDs: [String], now: Int64, on redis: RedisConnection) throws -> [Bool] {
        let keys = Keys(org: plan.org)
        var arguments: [any RedisArgument] = [keys.prefix, Int64(rules.retentionDays) * 86_400]
        arguments.append(indexIDs.count)
        arguments.append(contentsOf: indexIDs as [any RedisArgument])
        arguments.append(plan.boards.count)
        for board in plan.boards {
            arguments.append(board.name)
            arguments.append(board.period)
            arguments.append(board.expiresAt ?? 0)
            arguments.append(board.goal.map { String($0) } ?? "")
            arguments.append(board.finishKey ?? "")
        }
        arguments.append(now)
        arguments.append(plan.entries.count)
        for entry in plan.entries {
            let event = entry.event
            arguments.append(event.id)
            arguments.append(event.rep)
            arguments.append(event.repName ?? "")
            arguments.append(event.team ?? "")
            arguments.append(entry.increments.count)
            for increment in entry.increments {
                arguments.append(increment.board + 1)
                arguments.append(increment.member)
                arguments.append(increment.amount)
            }
        }
        let reply = try redis.run(script, keys: [keys.boards], arguments: arguments)
        guard let flags = reply.array, flags.count == plan.entries.count else {
            throw RedisError(.server, "scoring script returned \(reply)")
        }
        return flags.map { $0.int == 1 }
    }
}
