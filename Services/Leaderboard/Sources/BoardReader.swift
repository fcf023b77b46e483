import Foundation
import Redis
import TallyDomain

/// Board queries against Redis: resolves a board id and period to keys and runs
/// `BoardScript`, one round trip per read however long the page.
package struct BoardReader: Sendable {
    let redis: RedisClient
    let rules: RulesBook

    package init(redis: RedisClient, rules: RulesBook) {
        self.redis = redis
        self.rules = rules
    }

    /// A board of an org, in one period: a metric board, or a contest's board.
    package struct Target: Sendable {
        package let org: String
        /// `points:today:reps` or `contest:<id>`.
        package let board: String
        /// The metric board's id; nil for a contest.
        package let id: BoardID?
        package let scope: Scope
        /// The period label; `contest` for a contest's board.
        package let period: String

        var keys: Keys { Keys(org: org) }

        /// The days a rolling board sums (the last n local days up to its period's day).
        var days: [String] {
            guard let count = id?.window.rollingDays, let end = LocalDate(label: period) else { return [] }
            return (0..<count).map { end.adding(days: -$0).label }.reversed()
        }

        /// KEYS and the key part of ARGV for `BoardScript`.
        var scriptKeys: (keys: [String], dayKeys: [String], reachedKeys: [String]) {
            let names = scope == .reps ? keys.names : ""
            guard let id else {
                return ([keys.board(board, period: ""), names], [], [keys.reached(board, period: "")])
            }
            if id.window.isRolling {
                let day = BoardID(metric: id.metric, window: .today, scope: id.scope).description
                let daysKeys = days.map { keys.board(day, period: $0) }
                let reached = days.map { keys.reached(day, period: $0) }
                return ([keys.prefix + "rolling:\(id):\(period)", names], daysKeys, reached)
            }
            return ([keys.board(board, period: period), names], [], [keys.reached(board, period: period)])
        }
    }

    /// Checks the board id and period against the org's rules; no period: the current one.
    package func target(org: String, board: String, period: String?, now: Date = Date()) async throws -> Target {
        if let target = try metricTarget(org: org, board: board, period: period, now: now) { return target }
        let contest = try await contest(org: org, id: String(board.dropFirst("contest:".count)))
        return Target(org: org, board: board, id: nil, scope: contest.scope, period: "contest")
    }

    /// `target` without Redis, for a metric board; nil for a contest's board, whose scope is
    /// in its stored definition.
    package func metricTarget(org: String, board: String, period: String?, now: Date = Date()) throws(OperationError) -> Target? {
        guard Org.isValid(org) else { throw OperationError(.badRequest, "org: must be 1 to 64 characters of a-z, 0-9 and -") }
        if board.hasPrefix("contest:") { return nil }
        let rules = rules.rules(for: org)
        guard let id = BoardID(board), rules.metric(named: id.metric) != nil, rules.windows.contains(id.window),
            rules.scopes.contains(id.scope)
        else {
            throw OperationError(.notFound, "board: unknown board '\(board)' (boards are <metric>:<window>:<scope>, e.g. points:today:reps)")
        }
        let resolved: String
        if let period, !period.isEmpty {
            guard let valid = id.window.validPeriod(period) else {
                throw OperationError(.badRequest, "period: '\(period)' is not a \(id.window.rawValue) period (e.g. \(id.window.periodExample))")
            }
            resolved = valid
        } else {
            let today = LocalDate(milliseconds: Int64(now.timeIntervalSince1970 * 1000), in: rules.timeZone)
            resolved = id.window.period(of: today, weekStart: rules.weekStart)
        }
        return Target(org: org, board: board, id: id, scope: id.scope, period: resolved)
    }

    /// A stored contest, or 404.
    package func contest(org: String, id: String) async throws -> Contest {
        let key = Keys(org: org).contests
        let reply = try await redis.withConnection { try $0.send("HGET", key, id) }
        guard case .bulk(let data) = reply, let contest = try? JSONDecoder().decode(Contest.self, from: data) else {
            throw OperationError(.notFound, "contest: no contest '\(id)' in org '\(org)'")
        }
        return contest
    }

    /// A read of one board: its script call, and what the reply becomes. Building one needs
    /// no Redis, so a caller can pipeline many (the ZeroMQ transport does, a batch at a time).
    package struct Read<Answer: FastJSON & Encodable & Sendable>: Sendable {
        package let call: (keys: [String], arguments: [String])
        /// The answer from the script's reply.
        package let answer: @Sendable (RedisReply) throws(OperationError) -> Answer
    }

    /// The page `offset..<offset+limit`, widened by the script to whole groups of equal scores.
    package static func top(_ target: Target, offset: Int, limit: Int) -> Read<EntryList> {
        read(target, mode: "page", offset, limit, member: "") { total, entries in
            EntryList(board: target.board, period: target.period, total: total, entries: entries)
        }
    }

    /// `n` entries above and below `member`, padded at the edges.
    package static func around(_ target: Target, member: String, n: Int) -> Read<EntryList> {
        read(target, mode: "around", n, 0, member: member) { total, entries throws(OperationError) in
            guard !entries.isEmpty else {
                throw OperationError(.notFound, "member: '\(member)' is not on \(target.board) for \(target.period)")
            }
            return EntryList(board: target.board, period: target.period, total: total, entries: entries)
        }
    }

    /// `member`'s competition rank and score.
    package static func rank(_ target: Target, member: String) -> Read<MemberRank> {
        Read(call: call(target, mode: "rank", 0, 0, member: member)) { reply throws(OperationError) in
            guard let rank = memberRank(reply, target: target, member: member) else {
                throw OperationError(.notFound, "member: '\(member)' is not on \(target.board) for \(target.period)")
            }
            return rank
        }
    }

    /// Runs a read: one round trip.
    package func run<Answer>(_ read: Read<Answer>) async throws -> Answer {
        try await run(read.call, read.answer)
    }

    /// Runs one script call and makes the answer of its reply.
    package func run<Answer>(
        _ call: (keys: [String], arguments: [String]), _ answer: (RedisReply) throws(OperationError) -> Answer
    ) async throws -> Answer {
        let replies = try await redis.pipeline(BoardScript.script, calls: [call])
        return try answer(try replies[0].throwingError())
    }

    package func top(_ target: Target, offset: Int, limit: Int) async throws -> EntryList {
        try await run(Self.top(target, offset: offset, limit: limit))
    }

    /// A member's rank on many boards, in one round trip.
    func ranks(_ targets: [Target], member: String) async throws -> [MemberRank] {
        let calls = targets.map { Self.call($0, mode: "rank", 0, 0, member: member) }
        let replies = try await redis.pipeline(BoardScript.script, calls: calls)
        return zip(targets, replies).compactMap { target, reply in Self.memberRank(reply, target: target, member: member) }
    }

    private static func memberRank(_ reply: RedisReply, target: Target, member: String) -> MemberRank? {
        let items = reply.array ?? []
        guard items.count == 3, let total = items[0].int, let rank = items[1].int, let score = items[2].double else { return nil }
        return MemberRank(board: target.board, period: target.period, member: member, rank: Int(rank), score: score, total: Int(total))
    }

    /// The board ids that exist for the org.
    func boards(org: String) async throws -> [String] {
        let key = Keys(org: org).boards
        let reply = try await redis.withConnection { try $0.send("SMEMBERS", key) }
        return (reply.array ?? []).compactMap(\.string).sorted()
    }

    private static func read(
        _ target: Target, mode: String, _ a: Int, _ b: Int, member: String,
        _ list: @escaping @Sendable (Int, [Entry]) throws(OperationError) -> EntryList
    ) -> Read<EntryList> {
        Read(call: call(target, mode: mode, a, b, member: member)) { reply throws(OperationError) in
            let items = reply.array ?? []
            let total = Int(items.first?.int ?? 0)
            let entries = stride(from: 1, to: items.count - 3, by: 4).compactMap { index -> Entry? in
                guard let rank = items[index].int, let member = items[index + 1].string,
                    let score = items[index + 2].double, let name = items[index + 3].string
                else { return nil }
                return Entry(rank: Int(rank), member: member, name: name, score: score)
            }
            return try list(total, entries)
        }
    }

    /// KEYS and ARGV of `BoardScript` for one read.
    private static func call(_ target: Target, mode: String, _ a: Int, _ b: Int, member: String) -> (keys: [String], arguments: [String]) {
        let (keys, days, reached) = target.scriptKeys
        return (keys, [mode, String(a), String(b), member, String(days.count)] + days + [String(reached.count)] + reached)
    }
}
