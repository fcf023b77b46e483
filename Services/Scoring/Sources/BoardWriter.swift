import Redis
import TallyDomain

/// Applies a scoring plan to Redis in one script call: each event is counted once per org id
/// (its idempotency record is set in the same atomic step as its increments), so a batch
/// applied twice changes nothing the second time. Most batches take `summedScript`; those with
/// a race or a duplicate take `script`.
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

    /// The common case in one lighter call: a batch with no races whose events are all new.
    /// The worker has already summed what the batch adds per board and member (in event order,
    /// as the script above would), so Redis gets one line per member per board instead of one
    /// per event per board: a third of the arguments and no summing in Lua. If any event was
    /// seen before, the script takes back the idempotency records it set and returns 0, and
    /// the batch goes through `script`, event by event.
    ///
    /// ARGV: prefix, idempotency TTL (s), event ids (count, ids), index ids (count, ids),
    /// names (count, then rep, name), teams (count, then rep, team), boards (count, then key,
    /// reached key, expire-at-or-0, member count, then member, amount, last event's position
    /// in the batch, 1-based, per member). Returns 1 (applied) or 0 (a duplicate: nothing done).
    static let summedScript = RedisScript(#"""
        local prefix, seen_ttl = ARGV[1], ARGV[2]
        local n_events = tonumber(ARGV[3])
        for e = 1, n_events do
          if not redis.call('SET', prefix .. 'seen:' .. ARGV[3 + e], '1', 'NX', 'EX', seen_ttl) then
            for d = 1, e - 1 do redis.call('DEL', prefix .. 'seen:' .. ARGV[3 + d]) end
            return 0
          end
        end
        local seq = redis.call('INCRBY', prefix .. 'seq', n_events) - n_events
        local i = 4 + n_events
        -- unpack() has a stack limit: write long argument lists a thousand values at a time.
        local function in_chunks(command, key, values)
          for first = 1, #values, 1000 do
            redis.call(command, key, unpack(values, first, math.min(first + 999, #values)))
          end
        end
        local function take(n)
          local values = {}
          for v = 1, n do values[v] = ARGV[i + v - 1] end
          i = i + n
          return values
        end
        local n = tonumber(ARGV[i]); i = i + 1
        in_chunks('SADD', KEYS[1], take(n))
        n = tonumber(ARGV[i]); i = i + 1
        in_chunks('HSET', prefix .. 'names', take(2 * n))
        n = tonumber(ARGV[i]); i = i + 1
        in_chunks('HSET', prefix .. 'teams', take(2 * n))
        local n_boards = tonumber(ARGV[i]); i = i + 1
        for _ = 1, n_boards do
          local board, reached, expire_at, n_members = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
          i = i + 4
          local fields = {}
          for m = 1, n_members do
            redis.call('ZINCRBY', board, ARGV[i + 1], ARGV[i])
            fields[2 * m - 1], fields[2 * m] = ARGV[i], seq + tonumber(ARGV[i + 2])
            i = i + 3
          end
          in_chunks('HSET', reached, fields)
          if expire_at ~= '0' then
            redis.call('EXPIREAT', board, expire_at)
            redis.call('EXPIREAT', reached, expire_at)
          end
        end
        return 1
        """#)

    /// Applies the plan; returns, per planned event, whether it was counted (false: duplicate).
    static func apply(_ plan: ScoringPlan, rules: Rules, indexIDs: [String], now: Int64, on redis: RedisConnection) throws -> [Bool] {
        if !plan.boards.contains(where: { $0.goal != nil }), try applySummed(plan, rules: rules, indexIDs: indexIDs, on: redis) {
            return Array(repeating: true, count: plan.entries.count)
        }
        return try applyEventByEvent(plan, rules: rules, indexIDs: indexIDs, now: now, on: redis)
    }

    /// `summedScript`: true when it applied the batch, false when an event was a duplicate.
    private static func applySummed(_ plan: ScoringPlan, rules: Rules, indexIDs: [String], on redis: RedisConnection) throws -> Bool {
        let keys = Keys(org: plan.org)
        // Per board, each member's sum and the position of the last event that touched it.
        var members: [[String: Int]] = Array(repeating: [:], count: plan.boards.count)
        var lines: [[(member: String, sum: Double, last: Int)]] = Array(repeating: [], count: plan.boards.count)
        var names: [String: String] = [:]
        var teams: [String: String] = [:]
        for (position, entry) in plan.entries.enumerated() {
            for increment in entry.increments {
                if let line = members[increment.board][increment.member] {
                    lines[increment.board][line].sum += increment.amount
                    lines[increment.board][line].last = position + 1
                } else {
                    members[increment.board][increment.member] = lines[increment.board].count
                    lines[increment.board].append((increment.member, increment.amount, position + 1))
                }
            }
            if let name = entry.event.repName, !name.isEmpty { names[entry.event.rep] = name }
            if let team = entry.event.team, !team.isEmpty { teams[entry.event.rep] = team }
        }
        var arguments: [any RedisArgument] = [keys.prefix, Int64(rules.retentionDays) * 86_400]
        arguments.append(plan.entries.count)
        arguments.append(contentsOf: plan.entries.map(\.event.id) as [any RedisArgument])
        arguments.append(indexIDs.count)
        arguments.append(contentsOf: indexIDs as [any RedisArgument])
        for pairs in [names, teams] {
            arguments.append(pairs.count)
            for (rep, value) in pairs { arguments += [rep, value] }
        }
        let touched = plan.boards.indices.filter { !lines[$0].isEmpty }
        arguments.append(touched.count)
        for index in touched {
            let board = plan.boards[index]
            arguments += [keys.board(board.name, period: board.period), keys.reached(board.name, period: board.period), board.expiresAt ?? 0, lines[index].count]
            for line in lines[index] { arguments += [line.member, line.sum, line.last] }
        }
        return try redis.run(summedScript, keys: [keys.boards], arguments: arguments).int == 1
    }

    /// `script`: event by event, skipping duplicates.
    private static func applyEventByEvent(_ plan: ScoringPlan, rules: Rules, indexIDs: [String], now: Int64, on redis: RedisConnection) throws -> [Bool] {
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
