import Redis
import TallyDomain

/// Applies a scoring plan to Redis in one script call: each event is counted once per org id
/// (its idempotency record is set in the same atomic step as its increments), so a batch
/// applied twice changes nothing the second time. Most batches take `apply-sums.lua`; those
/// with a race or a duplicate take `apply-events.lua`.
package enum BoardWriter {
    /// Applies one plan; returns, per planned event, whether it was counted (false: duplicate).
    package static func apply(_ plan: ScoringPlan, rules: Rules, now: Int64, on redis: RedisConnection) throws -> [Bool] {
        try apply([(plan, rules)], now: now, on: redis)[0].counted
    }

    /// What applying one plan did: per planned event, whether it was counted, and what it
    /// moved on attainment boards (the boards, the milestones crossed).
    package struct Applied: Sendable {
        package var counted: [Bool]
        package var attainment = AttainmentSync.Outcome()
    }

    /// Applies several orgs' plans in three round trips at most, whatever their number: every
    /// summed call in one pipeline, then the event-by-event calls of the plans that need one,
    /// then the calls that bring attainment boards up to date (`AttainmentSync`) for the boards
    /// that have quotas. Each plan's call is followed in its pipeline by an SMEMBERS of its
    /// org's quota index (the boards with quotas), so an org without quotas costs those few
    /// bytes and no third round trip, and the syncs name only boards with quotas. A quota put
    /// after that SMEMBERS syncs from scores that already include the plan.
    package static func apply(_ plans: [(plan: ScoringPlan, rules: Rules)], now: Int64, on redis: RedisConnection) throws -> [Applied] {
        var counted: [[Bool]?] = Array(repeating: nil, count: plans.count)
        var quotaBoards = Array(repeating: Set<String>(), count: plans.count)
        /// Runs one call per plan, each followed by the SMEMBERS of its quota index; answers the calls' replies.
        func run(_ script: RedisScript, _ indices: [Int], _ call: (Int) -> ScriptCall) throws -> [RedisReply] {
            var calls: [RedisConnection.Call] = []
            for index in indices {
                let made = call(index)
                calls.append(.init(script, keys: made.keys, arguments: made.arguments))
                calls.append(.init(["SMEMBERS", Keys(org: plans[index].plan.org).quotas]))
            }
            let replies = try redis.pipeline(calls)
            return try indices.enumerated().map { at, index in
                quotaBoards[index] = Set(try replies[2 * at + 1].throwingError().array?.compactMap(\.string) ?? [])
                return try replies[2 * at].throwingError()
            }
        }
        let summable = plans.indices.filter { index in !plans[index].plan.boards.contains { $0.goal != nil } }
        let sums = try run(Scripts.applySums, summable) { summedCall(plans[$0].plan, rules: plans[$0].rules, now: now) }
        for (index, reply) in zip(summable, sums) where reply.int == 1 {
            counted[index] = Array(repeating: true, count: plans[index].plan.entries.count)
        }
        let rest = plans.indices.filter { counted[$0] == nil }
        let replies = try run(Scripts.applyEvents, rest) { eventByEventCall(plans[$0].plan, rules: plans[$0].rules, now: now) }
        for (index, reply) in zip(rest, replies) {
            let entries = plans[index].plan.entries.count
            guard let flags = reply.array, flags.count == entries else {
                throw StoreError.unexpectedReply("apply-events.lua returned \(reply) for \(entries) events")
            }
            counted[index] = flags.map { $0.int == 1 }
        }
        var applied = plans.indices.map { Applied(counted: counted[$0]!) }
        let syncs = plans.indices.filter { !quotaBoards[$0].isEmpty }.flatMap { index in
            let boards = AttainmentSync.boards(of: plans[index].plan).filter { quotaBoards[index].contains($0.id.description) }
            return AttainmentSync.calls(.score, org: plans[index].plan.org, rules: plans[index].rules, boards: boards).map { (index, $0) }
        }
        guard !syncs.isEmpty else { return applied }
        let synced = try redis.pipeline(scripted: syncs.map { (Scripts.syncAttainment, $0.1.keys, $0.1.arguments) })
        for ((index, sync), reply) in zip(syncs, synced) {
            applied[index].attainment.append(AttainmentSync.outcome(try reply.throwingError(), of: sync))
        }
        return applied
    }

    /// `apply-sums.lua`'s call: what the batch adds per board and member, summed here.
    package static func summedCall(_ plan: ScoringPlan, rules: Rules, now: Int64) -> ScriptCall {
        let keys = Keys(org: plan.org)
        // Per board, each member's sum and the position of the last event that added to it.
        var members: [[String: Int]] = Array(repeating: [:], count: plan.boards.count)
        var lines: [[(member: String, sum: Double, last: Int)]] = Array(repeating: [], count: plan.boards.count)
        var names: [String: String] = [:]
        var teams: [String: String] = [:]
        for (position, entry) in plan.entries.enumerated() {
            // An increment of 0 writes nothing: its member must not "reach" its score again.
            for increment in entry.increments where increment.amount != 0 {
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
        var call = ScriptCall(
            keys: [keys.boards, keys.names, keys.teams, keys.sequence, keys.activity] + plan.entries.map { keys.seen($0.event.id) },
            arguments: [String(rules.seenSeconds), String(plan.entries.count), String(now), rules.keepLogFrom(now)] + logEntries(plan, rules: rules))
        let index = indexIDs(plan, rules: rules)
        call.arguments.append(String(index.count))
        call.arguments += index
        for pairs in [names, teams] {
            call.arguments.append(String(pairs.count))
            for (rep, value) in pairs { call.arguments += [rep, value] }
        }
        let touched = plan.boards.indices.filter { !lines[$0].isEmpty }
        call.arguments.append(String(touched.count))
        for boardIndex in touched {
            let board = plan.boards[boardIndex]
            call.keys += keys.written(board)
            call.arguments += [String(board.expiresAt ?? 0), String(lines[boardIndex].count)]
            for line in lines[boardIndex] { call.arguments += [line.member, line.sum.description, String(line.last)] }
        }
        return call
    }

    /// `apply-events.lua`'s call: every event with its increments, duplicates skipped by the script.
    package static func eventByEventCall(_ plan: ScoringPlan, rules: Rules, now: Int64) -> ScriptCall {
        let keys = Keys(org: plan.org)
        var call = ScriptCall(
            keys: [keys.boards, keys.names, keys.teams, keys.sequence, keys.activity] + plan.entries.map { keys.seen($0.event.id) },
            arguments: [String(rules.seenSeconds), String(now), String(plan.entries.count), rules.keepLogFrom(now)] + logEntries(plan, rules: rules))
        let index = indexIDs(plan, rules: rules)
        call.arguments.append(String(index.count))
        call.arguments += index
        call.arguments.append(String(plan.boards.count))
        var finishes: [String] = []
        for board in plan.boards {
            call.keys += keys.written(board)
            call.arguments += [String(board.expiresAt ?? 0), board.goal?.description ?? ""]
            if board.goal != nil {
                guard let contest = board.contestID else { preconditionFailure("a race's board is a contest's: \(board.name)") }
                finishes.append(keys.contestFinish(contest))
            }
        }
        call.keys += finishes
        for entry in plan.entries {
            let event = entry.event
            call.arguments += [event.rep, event.repName ?? "", event.team ?? "", String(entry.increments.count)]
            for increment in entry.increments {
                call.arguments += [String(increment.board + 1), increment.member, increment.amount.description]
            }
        }
        return call
    }

    /// Each event's log entry; without a log (`log_days: 0`), "" each, made at no cost.
    private static func logEntries(_ plan: ScoringPlan, rules: Rules) -> [String] {
        guard rules.keepsLog else { return Array(repeating: "", count: plan.entries.count) }
        return LogEntry.accepted(plan.entries)
    }

    /// Board ids to list in the org's index: each stored board, and the rolling boards read from it.
    package static func indexIDs(_ plan: ScoringPlan, rules: Rules) -> [String] {
        var ids = Set(plan.boards.map(\.name))
        for board in plan.boards {
            guard let id = board.id, id.window == .today else { continue }
            for window in rules.windows where window.isRolling {
                ids.insert(BoardID(metric: id.metric, window: window, scope: id.scope).description)
            }
        }
        return ids.sorted()
    }
}

extension Keys {
    /// The keys a scoring script writes for one board: the sorted set, its reached hash and its
    /// order index.
    func written(_ board: ScoringPlan.Board) -> [String] {
        [self.board(board.name, period: board.period), reached(board.name, period: board.period), order(board.name, period: board.period)]
    }
}

extension Rules {
    /// How long an event's idempotency record is kept: the retention.
    fileprivate var seenSeconds: Int64 { Int64(retentionDays) * 86_400 }

    /// The scripts' "oldest log id to keep" at `now`: "" when the org keeps no log.
    func keepLogFrom(_ now: Int64) -> String {
        keepsLog ? String(now - logMilliseconds) : ""
    }
}
