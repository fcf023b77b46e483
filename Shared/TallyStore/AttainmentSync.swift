import Redis
import TallyDomain

/// Keeps attainment boards (`attainment:<metric>:<window>:<scope>`) in step with the metric
/// boards and the quotas they are measured against: `sync-attainment.lua`, called in the same
/// round trip as the write it follows (an event batch, a correction, a quota put or delete).
/// What it writes is derived, so running it again changes nothing; see the script for the rules.
package enum AttainmentSync {
    /// After scores moved a recorded target holds; after quotas moved they are looked up again.
    package enum Mode: String, Sendable {
        case score, quota
    }

    /// Members of one metric board in one period to bring up to date.
    package struct Board: Sendable, Hashable {
        package var id: BoardID
        package var period: String
        package var members: [String]

        package init(id: BoardID, period: String, members: [String]) {
            self.id = id
            self.period = period
            self.members = members
        }
    }

    /// A milestone crossed (the highest one, when a change crossed several).
    package struct Crossing: Sendable, Equatable {
        /// `attainment:revenue:month:reps`.
        package var board: String
        package var period: String
        package var member: String
        package var attainment: Double
        package var milestone: Double
    }

    /// The most members one call syncs, so that no call holds Redis long: a bulk put of 10,000
    /// quotas is ten calls.
    package static let membersPerCall = 1_000

    /// Whether a board can have quotas: a calendar window's (not `all`, not rolling).
    package static func hasQuotas(_ id: BoardID) -> Bool { Quota.windows.contains(id.window) }

    /// The calls that sync `boards`, at most `membersPerCall` members each.
    package static func calls(_ mode: Mode, org: String, rules: Rules, boards: [Board]) -> [ScriptCall] {
        var calls: [ScriptCall] = []
        var chunk: [Board] = []
        var members = 0
        for var board in boards where hasQuotas(board.id) && !board.members.isEmpty {
            while !board.members.isEmpty {
                let room = membersPerCall - members
                var part = board
                part.members = Array(board.members.prefix(room))
                board.members.removeFirst(part.members.count)
                chunk.append(part)
                members += part.members.count
                if members == membersPerCall {
                    calls.append(call(mode, org: org, rules: rules, boards: chunk))
                    (chunk, members) = ([], 0)
                }
            }
        }
        if !chunk.isEmpty { calls.append(call(mode, org: org, rules: rules, boards: chunk)) }
        return calls
    }

    /// One call of the script (see its KEYS and ARGV).
    package static func call(_ mode: Mode, org: String, rules: Rules, boards: [Board]) -> ScriptCall {
        let keys = Keys(org: org)
        var call = ScriptCall(
            keys: [keys.quotas, keys.sequence, keys.boards],
            arguments: [mode.rawValue, String(rules.milestones.count)] + rules.milestones.map { "\($0)" } + [String(boards.count)])
        for board in boards {
            let metric = board.id.description, attainment = board.id.attainment
            call.keys += [
                keys.quota(metric), keys.board(metric, period: board.period), keys.reached(metric, period: board.period),
                keys.targets(board.id, period: board.period), keys.board(attainment, period: board.period),
                keys.reached(attainment, period: board.period), keys.order(attainment, period: board.period),
                keys.milestones(board.id, period: board.period),
            ]
            call.arguments += [attainment, board.period, String(expiry(of: board, rules: rules) ?? 0), String(board.members.count)]
            call.arguments += board.members
        }
        return call
    }

    /// What one call did: the attainment boards it wrote, and the milestones crossed.
    package struct Outcome: Sendable, Equatable {
        package var written: [(board: String, period: String)] = []
        package var crossings: [Crossing] = []

        package static func == (a: Outcome, b: Outcome) -> Bool {
            a.crossings == b.crossings && a.written.map { "\($0.board) \($0.period)" } == b.written.map { "\($0.board) \($0.period)" }
        }

        package mutating func append(_ other: Outcome) {
            written += other.written
            crossings += other.crossings
        }
    }

    /// A call's reply, read with the call it answers.
    package static func outcome(_ reply: RedisReply, of call: ScriptCall) -> Outcome {
        let parts = reply.array ?? []
        guard parts.count == 2 else { return Outcome() }
        // Board n's id and period are at these arguments of the call.
        var boards: [(board: String, period: String)] = []
        var index = 3 + (Int(call.arguments[1]) ?? 0)
        while index + 3 < call.arguments.count {
            boards.append((call.arguments[index], call.arguments[index + 1]))
            index += 4 + (Int(call.arguments[index + 3]) ?? 0)
        }
        func board(_ number: Int64?) -> (board: String, period: String)? {
            guard let number, number >= 1, Int(number) <= boards.count else { return nil }
            return boards[Int(number) - 1]
        }
        var outcome = Outcome()
        outcome.written = (parts[0].array ?? []).compactMap { board($0.int) }
        let items = parts[1].array ?? []
        guard items.count % 4 == 0 else { return outcome }
        outcome.crossings = stride(from: 0, to: items.count, by: 4).compactMap { at in
            guard let board = board(items[at].int), let member = items[at + 1].string,
                let attainment = items[at + 2].string.flatMap(Double.init), let milestone = items[at + 3].string.flatMap(Double.init)
            else { return nil }
            return Crossing(board: board.board, period: board.period, member: member, attainment: attainment, milestone: milestone)
        }
        return outcome
    }

    /// The metric boards of a plan that can have quotas, with the members whose scores it
    /// moves (an increment of 0 moves nothing).
    package static func boards(of plan: ScoringPlan) -> [Board] {
        var members: [Int: [String]] = [:]
        var seen: [Int: Set<String>] = [:]
        for entry in plan.entries {
            for increment in entry.increments where increment.amount != 0 {
                if seen[increment.board, default: []].insert(increment.member).inserted {
                    members[increment.board, default: []].append(increment.member)
                }
            }
        }
        return members.keys.sorted().compactMap { index in
            let board = plan.boards[index]
            guard let id = board.id, hasQuotas(id) else { return nil }
            return Board(id: id, period: board.period, members: members[index]!)
        }
    }

    /// When a period's keys expire, as the scoring plan's boards do: the retention after the
    /// period's end (a day's slack covers any time zone). Nil for a label that names no period.
    static func expiry(of board: Board, rules: Rules) -> Int64? {
        guard let first = board.id.window.day(inPeriod: board.period),
            let end = board.id.window.periodEnd(of: first, weekStart: rules.weekStart)
        else { return nil }
        return Int64(end.daysSinceEpoch + 1 + rules.retentionDays) * 86_400
    }
}

extension Window {
    /// A local day of the calendar period a label names (its first, but for a week, which
    /// depends on the day weeks start on: a day in it, enough for `periodEnd`); nil for a label
    /// that names no period of this window.
    package func day(inPeriod label: String) -> LocalDate? {
        guard validPeriod(label) != nil else { return nil }
        let parts = label.split(separator: "-").map(String.init)
        switch self {
        case .today, .rolling7, .rolling30:
            return LocalDate(label: label)
        case .week:
            // Week 1 is the week that holds 4 January whichever day weeks start on (a week
            // belongs to the year of its fourth day, see `WeekNumbering`).
            guard let year = Int(parts[0]), let week = Int(parts[1].dropFirst()) else { return nil }
            let january4 = LocalDate(year: year, month: 1, day: 4)
            return LocalDate(daysSinceEpoch: january4.daysSinceEpoch + 7 * (week - 1))
        case .month:
            guard let year = Int(parts[0]), let month = Int(parts[1]) else { return nil }
            return LocalDate(year: year, month: month, day: 1)
        case .quarter:
            guard let year = Int(parts[0]), let quarter = Int(parts[1].dropFirst()) else { return nil }
            return LocalDate(year: year, month: (quarter - 1) * 3 + 1, day: 1)
        case .year:
            return Int(label).map { LocalDate(year: $0, month: 1, day: 1) }
        case .all:
            return nil
        }
    }
}
