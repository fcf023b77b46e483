import Redis
import TallyDomain

/// Quotas as stored, in the org's slot: one hash per board, `{org}:quota:<metric>:<window>:<scope>`,
/// with a field per member for its quota in every period (`ana`) and one per period that has
/// its own (`ana#2026-12`), each holding the target; and `{org}:quotas`, the set of board ids
/// that have such a hash. A member's target in a period is one `HMGET <hash> ana#2026-12 ana`:
/// the first that is set. Member ids and period labels never hold `#`, so a field names one
/// member and period only.
package struct QuotaStore: Sendable {
    package let redis: RedisClient

    package init(redis: RedisClient) {
        self.redis = redis
    }

    /// The field that holds a member's quota: `ana` for every period, `ana#2026-12` for one.
    package static func field(member: String, period: String?) -> String {
        period.map { "\(member)#\($0)" } ?? member
    }

    /// The fields to `HMGET` for a member's target in `period`, the period's own first.
    package static func lookupFields(member: String, period: String) -> [String] {
        [field(member: member, period: period), member]
    }

    /// Saves quotas that were checked (`Quota.batch`) in one atomic step that also moves the
    /// org's version, and in the same round trip moves the attainment boards they are targets
    /// on (`AttainmentSync`): a quota for one period moves that period's, one for every period
    /// the current period's (past periods keep the targets they were measured against).
    /// Answers how many were saved, and the attainment boards moved.
    package func put(org: String, _ quotas: [Quota], rules: Rules = .default, now: Int64 = Timestamp.now()) async throws -> (saved: Int, moved: AttainmentSync.Outcome) {
        guard !quotas.isEmpty else { return (0, AttainmentSync.Outcome()) }
        let call = Self.putCall(org: org, quotas)
        let syncs = AttainmentSync.calls(.quota, org: org, rules: rules, boards: Self.affected(quotas, rules: rules, now: now))
        let replies = try await redis.withConnection { connection in
            try connection.pipeline(scripted: [(Scripts.putQuotas, call.keys, call.arguments)] + syncs.map { (Scripts.syncAttainment, $0.keys, $0.arguments) })
        }
        guard let saved = try replies[0].throwingError().int else { throw StoreError.unexpectedReply("quotas: the store answered \(replies[0])") }
        return (Int(saved), try Self.outcome(replies.dropFirst(), syncs))
    }

    /// The members and periods whose attainment quotas move: a quota's own period, or the
    /// window's current period for a quota of every period.
    static func affected(_ quotas: [Quota], rules: Rules, now: Int64) -> [AttainmentSync.Board] {
        let today = LocalDate(milliseconds: now, in: rules.timeZone)
        var order: [String] = []
        var boards: [String: AttainmentSync.Board] = [:]
        var seen = Set<String>()
        for quota in quotas {
            let period = quota.period ?? quota.window.period(of: today, weekStart: rules.weekStart)
            let key = "\(quota.board) \(period)"
            if boards[key] == nil {
                order.append(key)
                boards[key] = AttainmentSync.Board(id: quota.board, period: period, members: [])
            }
            if seen.insert("\(key) \(quota.member)").inserted { boards[key]!.members.append(quota.member) }
        }
        return order.map { boards[$0]! }
    }

    private static func outcome(_ replies: ArraySlice<RedisReply>, _ syncs: [ScriptCall]) throws -> AttainmentSync.Outcome {
        var outcome = AttainmentSync.Outcome()
        for (reply, sync) in zip(replies, syncs) { outcome.append(AttainmentSync.outcome(try reply.throwingError(), of: sync)) }
        return outcome
    }

    /// `put-quotas.lua`'s call: KEYS the version, the index and each board's hash (in order of
    /// first use); ARGV each hash's board id, then (hash number, field, target) per quota.
    package static func putCall(org: String, _ quotas: [Quota]) -> ScriptCall {
        let keys = Keys(org: org)
        var boards: [String] = []
        var number: [String: Int] = [:]
        var triples: [String] = []
        triples.reserveCapacity(quotas.count * 3)
        for quota in quotas {
            let board = quota.board.description
            let index: Int
            if let known = number[board] {
                index = known
            } else {
                boards.append(board)
                index = boards.count
                number[board] = index
            }
            triples += [String(index), field(member: quota.member, period: quota.period), format(quota.target)]
        }
        return ScriptCall(keys: [keys.sequence, keys.quotas] + boards.map(keys.quota), arguments: boards + triples)
    }

    /// The org's quotas that match every filter given, ordered by board, member, then period
    /// (the quota for every period first).
    package func list(
        org: String, metric: String? = nil, window: Window? = nil, scope: Scope? = nil, member: String? = nil
    ) async throws -> [Quota] {
        let keys = Keys(org: org)
        let boards: [BoardID]
        if let metric, let window, let scope {
            boards = [BoardID(metric: metric, window: window, scope: scope)]
        } else {
            let reply = try await redis.send(["SMEMBERS", keys.quotas]).throwingError()
            boards = (reply.array ?? []).compactMap { $0.string.flatMap { BoardID($0) } }.filter { board in
                (metric == nil || board.metric == metric) && (window == nil || board.window == window)
                    && (scope == nil || board.scope == scope)
            }
        }
        guard !boards.isEmpty else { return [] }
        let commands = boards.map { ["HGETALL", keys.quota($0.description)] }
        let replies = try await redis.withConnection { try $0.pipeline(commands.map { $0 as [any RedisArgument] }) }
        var quotas: [Quota] = []
        for (board, reply) in zip(boards, replies) {
            let flat = try reply.throwingError().array ?? []
            var index = 0
            while index + 1 < flat.count {
                defer { index += 2 }
                guard let field = flat[index].string, let target = flat[index + 1].string.flatMap(Double.init) else { continue }
                let (who, period) = Self.split(field)
                if let member, who != member { continue }
                quotas.append(Quota(metric: board.metric, window: board.window, scope: board.scope, member: who, target: target, period: period))
            }
        }
        return quotas.sorted { a, b in
            (a.metric, a.window.rawValue, a.scope.rawValue, a.member, a.period ?? "") < (b.metric, b.window.rawValue, b.scope.rawValue, b.member, b.period ?? "")
        }
    }

    /// Deletes one quota (the one for every period when `period` is nil) and moves its
    /// attainment board as `put` does (the member leaves it, or is measured against the quota
    /// that still holds); nil when there was no such quota, else the attainment boards moved.
    package func delete(
        org: String, board: BoardID, member: String, period: String?, rules: Rules = .default, now: Int64 = Timestamp.now()
    ) async throws -> AttainmentSync.Outcome? {
        let call = Self.deleteCall(org: org, board: board, member: member, period: period)
        let quota = Quota(metric: board.metric, window: board.window, scope: board.scope, member: member, target: 1, period: period)
        let syncs = AttainmentSync.calls(.quota, org: org, rules: rules, boards: Self.affected([quota], rules: rules, now: now))
        // Two round trips: a quota that was not there must change nothing.
        let replies = try await redis.withConnection { connection -> [RedisReply]? in
            guard try connection.run(Scripts.deleteQuota, call).throwingError().int == 1 else { return nil }
            return try connection.pipeline(scripted: syncs.map { (Scripts.syncAttainment, $0.keys, $0.arguments) })
        }
        guard let replies else { return nil }
        return try Self.outcome(replies[...], syncs)
    }

    /// `delete-quota.lua`'s call: KEYS the version, the index and the board's hash; ARGV the board id and the field.
    package static func deleteCall(org: String, board: BoardID, member: String, period: String?) -> ScriptCall {
        let keys = Keys(org: org)
        return ScriptCall(
            keys: [keys.sequence, keys.quotas, keys.quota(board.description)],
            arguments: [board.description, field(member: member, period: period)])
    }

    /// A stored field as member and period.
    static func split(_ field: String) -> (member: String, period: String?) {
        guard let mark = field.firstIndex(of: "#") else { return (field, nil) }
        return (String(field[..<mark]), String(field[field.index(after: mark)...]))
    }

    /// A target as stored: a whole number without a fraction, else Swift's shortest exact form.
    static func format(_ target: Double) -> String {
        target == target.rounded() && abs(target) < 1e15 ? String(Int64(target)) : String(target)
    }
}
