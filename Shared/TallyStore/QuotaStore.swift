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
    /// org's version; answers how many were saved.
    package func put(org: String, _ quotas: [Quota]) async throws -> Int {
        guard !quotas.isEmpty else { return 0 }
        let call = Self.putCall(org: org, quotas)
        let reply = try await redis.withConnection { try $0.run(Scripts.putQuotas, call).throwingError() }
        guard let saved = reply.int else { throw StoreError.unexpectedReply("quotas: the store answered \(reply)") }
        return Int(saved)
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
            boards = (reply.array ?? []).compactMap { $0.string.flatMap(BoardID.init) }.filter { board in
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

    /// Deletes one quota (the one for every period when `period` is nil); false when there was none.
    package func delete(org: String, board: BoardID, member: String, period: String?) async throws -> Bool {
        let call = Self.deleteCall(org: org, board: board, member: member, period: period)
        let reply = try await redis.withConnection { try $0.run(Scripts.deleteQuota, call).throwingError() }
        return reply.int == 1
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
