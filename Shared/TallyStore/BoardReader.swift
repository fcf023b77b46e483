import Foundation
import Redis
import TallyDomain

/// Board reads: resolves a board id and period to a `BoardTarget` and runs `read-board.lua`,
/// one round trip per read, costing Redis the page it answers whatever the ties on the board
/// (see the script), and writing nothing.
package struct BoardReader: Sendable {
    package let redis: RedisClient
    package let rules: RulesBook

    package init(redis: RedisClient, rules: RulesBook) {
        self.redis = redis
        self.rules = rules
    }

    /// Checks the board id and period against the org's rules; no period: the current one.
    /// A contest's board is looked up in its stored definition.
    package func target(org: String, board: String, period: String?, now: Date = Date()) async throws -> BoardTarget {
        if let target = try metricTarget(org: org, board: board, period: period, now: now) { return target }
        let contest = try await ContestStore(redis: redis).contest(org: org, id: String(board.dropFirst("contest:".count)))
        return BoardTarget(org: org, contest: contest)
    }

    /// `target` without Redis, for a metric board; nil for a contest's board.
    package func metricTarget(org: String, board: String, period: String?, now: Date = Date()) throws(StoreError) -> BoardTarget? {
        try BoardTarget.metric(org: org, board: board, period: period, rules: rules.rules(for: org), now: now)
    }

    /// A read of one board: its script call, and what the reply becomes. Building one needs
    /// no Redis, so a caller can pipeline many (the leaderboard's ZeroMQ side does, a batch at a time).
    package struct Read<Answer: Sendable>: Sendable {
        /// The call that answers in full.
        package let call: ScriptCall
        /// The answer from the script's reply to `call`.
        package let answer: @Sendable (RedisReply) throws(StoreError) -> Answer

        /// The same read for a caller that holds its answer as of the org's `version`: while the
        /// org has not changed since, the reply is the version alone (`Version.unchanged`), at
        /// the cost of one `GET` in the script.
        package func call(unlessAt version: String) -> ScriptCall {
            var call = call
            call.arguments[call.arguments.count - 1] = version
            return call
        }
    }

    /// The org's version a read's reply was read at (`Keys.sequence`), and whether the reply
    /// is that version alone because the caller's answer still holds. An org without one yet
    /// (nothing scored) has the version "", which never holds.
    package struct Version: Sendable, Equatable {
        package let value: String
        package let unchanged: Bool

        package init(_ reply: RedisReply) {
            let items = reply.array ?? []
            value = items.first?.string ?? ""
            unchanged = items.count == 1 && !value.isEmpty
        }
    }

    /// The page `offset..<offset+limit`: one range of the board's order index.
    package static func top(_ target: BoardTarget, offset: Int, limit: Int) -> Read<EntryList> {
        entries(target, target.call(mode: "page", offset, limit, member: "")) { total, entries in
            EntryList(board: target.board, period: target.period, total: total, entries: entries)
        }
    }

    /// `n` entries above and below `member`, padded at the edges.
    package static func around(_ target: BoardTarget, member: String, n: Int) -> Read<EntryList> {
        entries(target, target.call(mode: "around", n, 0, member: member)) { total, entries throws(StoreError) in
            guard !entries.isEmpty else { throw notOnBoard(member, target) }
            return EntryList(board: target.board, period: target.period, total: total, entries: entries)
        }
    }

    /// `member`'s competition rank and score.
    package static func rank(_ target: BoardTarget, member: String) -> Read<MemberRank> {
        Read(call: target.call(mode: "rank", 0, 0, member: member)) { reply throws(StoreError) in
            guard let rank = memberRank(reply, target: target, member: member) else { throw notOnBoard(member, target) }
            return rank
        }
    }

    /// Runs a read: one round trip.
    package func run<Answer>(_ read: Read<Answer>) async throws -> Answer {
        try read.answer(try await reply(read.call))
    }

    /// The script's reply to one read's call (an error reply thrown), for a caller that keeps
    /// reads of several answer types together.
    package func reply(_ call: ScriptCall) async throws -> RedisReply {
        try await redis.pipeline(Scripts.readBoard, calls: [call.pair])[0].throwingError()
    }

    /// The replies to many reads' calls in one pipelined round trip on `connection`; error
    /// replies come back in place.
    package static func replies(_ calls: [ScriptCall], on connection: RedisConnection) throws(RedisError) -> [RedisReply] {
        try connection.pipeline(Scripts.readBoard, calls: calls.map(\.pair))
    }

    /// `commands`, then the reads' script calls, as one pipeline (for `RedisPipelineInFlight`).
    package static func calls(_ calls: [ScriptCall], after commands: [[String]]) -> [RedisConnection.Call] {
        commands.map { RedisConnection.Call($0) } + calls.map { RedisConnection.Call(Scripts.readBoard, keys: $0.keys, arguments: $0.arguments) }
    }

    /// `commands`' replies, then the reads', from one pipelined round trip on `connection`.
    package static func replies(
        _ calls: [ScriptCall], after commands: [[String]], on connection: RedisConnection
    ) throws(RedisError) -> (commands: [RedisReply], calls: [RedisReply]) {
        try connection.pipeline(commands.map { $0 as [any RedisArgument] }, then: Scripts.readBoard, calls: calls.map(\.pair))
    }

    /// `commands`' replies, then the reads', from one round trip shared with the reads that
    /// other tasks queued meanwhile (`RedisClient.pipeline`).
    package func replies(_ calls: [ScriptCall], after commands: [[String]]) async throws -> (commands: [RedisReply], calls: [RedisReply]) {
        let replies = try await redis.pipeline(Self.calls(calls, after: commands))
        return (Array(replies.prefix(commands.count)), Array(replies.dropFirst(commands.count)))
    }

    package func top(_ target: BoardTarget, offset: Int, limit: Int) async throws -> EntryList {
        try await run(Self.top(target, offset: offset, limit: limit))
    }

    /// A member's rank on many boards, in one round trip; boards it is not on are left out.
    package func ranks(_ targets: [BoardTarget], member: String) async throws -> [MemberRank] {
        let calls = targets.map { $0.call(mode: "rank", 0, 0, member: member).pair }
        let replies = try await redis.pipeline(Scripts.readBoard, calls: calls)
        return zip(targets, replies).compactMap { target, reply in Self.memberRank(reply, target: target, member: member) }
    }

    /// The board ids that exist for the org.
    package func boards(org: String) async throws -> [String] {
        let key = Keys(org: org).boards
        let reply = try await redis.send(["SMEMBERS", key])
        return (reply.array ?? []).compactMap(\.string).sorted()
    }

    /// Whether any event was ever scored on the metric board `board` of `org` (one `SISMEMBER`).
    package func exists(org: String, board: String) async throws -> Bool {
        try await redis.send(["SISMEMBER", Keys(org: org).boards, board]).int == 1
    }

    private static func memberRank(_ reply: RedisReply, target: BoardTarget, member: String) -> MemberRank? {
        let items = Array((reply.array ?? []).dropFirst())  // after the version
        guard items.count >= 3, let total = items[0].int, let rank = items[1].int, let score = items[2].double else { return nil }
        let (shown, goal, attainment) = quota(target, score: score, extras: items.count >= 5 ? (items[3], items[4]) : nil)
        return MemberRank(
            board: target.board, period: target.period, member: member, rank: Int(rank), score: shown, total: Int(total), target: goal,
            attainment: attainment)
    }

    /// An entry's score, target and attainment from its board score and the script's extras
    /// (target, metric score; "" each where the member has none): on an attainment board the
    /// board score is the attainment, elsewhere the metric's score.
    private static func quota(_ target: BoardTarget, score: Double, extras: (RedisReply, RedisReply)?) -> (Double, Double?, Double?) {
        guard let extras, let goal = extras.0.double, goal > 0 else { return (score, nil, nil) }
        if target.attainment { return (extras.1.double ?? 0, goal, score) }
        return (score, goal, score / goal)
    }

    private static func notOnBoard(_ member: String, _ target: BoardTarget) -> StoreError {
        .notFound("member: \(member.quoted) is not on \(target.board) for \(target.period)")
    }

    private static func entries(
        _ target: BoardTarget, _ call: ScriptCall, _ list: @escaping @Sendable (Int, [Entry]) throws(StoreError) -> EntryList
    ) -> Read<EntryList> {
        Read(call: call) { reply throws(StoreError) in
            // The version, the total, then four items per entry, six with extras.
            let items = reply.array ?? []
            let total = Int(items.count > 1 ? items[1].int ?? 0 : 0)
            let width = target.extras.isEmpty ? 4 : 6
            let entries = stride(from: 2, to: items.count - width + 1, by: width).compactMap { index -> Entry? in
                guard let rank = items[index].int, let member = items[index + 1].string,
                    let score = items[index + 2].double, let name = items[index + 3].string
                else { return nil }
                let (shown, goal, attainment) = quota(target, score: score, extras: width == 6 ? (items[index + 4], items[index + 5]) : nil)
                return Entry(rank: Int(rank), member: member, name: name, score: shown, target: goal, attainment: attainment)
            }
            return try list(total, entries)
        }
    }
}
