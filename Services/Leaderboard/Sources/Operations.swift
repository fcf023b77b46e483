import Foundation
import Logging
import Prometheus
import Redis
import TallyChanges
import TallyDomain
import TallyStore

/// The one implementation of every operation; the HTTP and ZeroMQ transports only translate.
package struct Operations: Sendable {
    let reader: BoardReader
    let adminToken: AdminToken?
    let policy: AccessPolicy
    let metrics: PrometheusCollectorRegistry
    /// Where credentials made and revoked are recorded (ids, never values).
    let logger: Logger
    /// Board answers kept while their org has not changed (see `ReadCache`).
    let cache: ReadCache
    /// Orgs' versions known without asking Redis, while its tracking has not said they moved;
    /// nil when the lease is zero (every read asks).
    let versions: RedisKeyWatch?
    /// Reads answered with a kept answer, and reads that found none or an out-of-date one.
    private let kept: (hit: Counter, miss: Counter)
    /// Publishes a message's frames to notification (a correction's change notice).
    let announce: @Sendable ([Data]) -> Void

    var contests: ContestBook { ContestBook(reader: reader) }
    var tokens: TokenStore { TokenStore(redis: reader.redis) }

    package init(
        redis: RedisClient, rules: RulesBook, adminToken: String?, openReads: Bool, metrics: PrometheusCollectorRegistry, logger: Logger,
        versionLease: Duration = .seconds(1), announce: @escaping @Sendable ([Data]) -> Void = { _ in }
    ) {
        self.announce = announce
        self.reader = BoardReader(redis: redis, rules: rules)
        self.adminToken = adminToken.map(AdminToken.init)
        self.policy = AccessPolicy(openReads: openReads, hasAdminToken: adminToken != nil)
        self.metrics = metrics
        self.logger = logger
        self.cache = ReadCache()
        self.versions = versionLease > .zero ? RedisKeyWatch(redis.configuration, lease: versionLease, name: "tally-versions") : nil
        let descriptor = MetricNameDescriptor(
            namespace: "tally", metricName: "read_cache", unitName: "total",
            helpText: "Board reads answered with the answer kept since the org last changed (hit), or read in full (miss).")
        self.kept = (metrics.makeCounter(descriptor: descriptor, labels: [("outcome", "hit")]),
                     metrics.makeCounter(descriptor: descriptor, labels: [("outcome", "miss")]))
    }

    private static var requests: MetricNameDescriptor {
        .init(namespace: "tally", metricName: "requests", unitName: "total", helpText: "Requests by operation, transport and outcome.")
    }
    private static var duration: MetricNameDescriptor {
        .init(namespace: "tally", metricName: "request_duration", unitName: "seconds", helpText: "How long requests took.")
    }

    /// The answer to an org outside [a-z0-9-], whichever path meets it.
    static let invalidOrg = OperationError(.badRequest, "org: must be 1 to 64 characters of a-z, 0-9 and -")

    /// Runs an operation; `token` is what the caller presented (nil: none).
    ///
    /// Whatever may write is answered only once every leaderboard's version watch has heard of
    /// it: this one forgets the org's version, and one more round trip to the org's master
    /// (`EXISTS {org}:seq`) comes back from a later turn of Redis's loop than the write's, so
    /// Redis's invalidation has left for the others (`RedisKeyWatch`). A read after the answer,
    /// on any leaderboard, asks Redis.
    package func run(_ operation: Operation, token: String?, transport: String) async throws(OperationError) -> any Encodable & Sendable {
        // (Even with this one's watch off: other leaderboards may have theirs on.)
        guard operation.access != .read, Org.isValid(operation.org) else {
            return try await serve(operation, token: token, transport: transport)
        }
        let key = Keys(org: operation.org).sequence
        defer { versions?.forget(key) }
        let answer = try await serve(operation, token: token, transport: transport)
        versions?.forget(key)
        _ = try? await reader.redis.send(["EXISTS", key])
        return answer
    }

    private func serve(_ operation: Operation, token: String?, transport: String) async throws(OperationError) -> any Encodable & Sendable {
        let start = ContinuousClock.now
        var outcome = "ok"
        defer { record(operation.name, transport: transport, outcome: outcome, since: start) }
        do {
            // Every key of an org carries its id in a hash tag: an org outside [a-z0-9-] is
            // refused here, once for every operation of both transports.
            guard Org.isValid(operation.org) else { throw Self.invalidOrg }
            switch precheck(operation, token: token) {
            case .allowed:
                if let read = try? scriptRead(operation) { return try await self.read(operation, read, lookup: nil) }
                var caller: Caller?
                if case .known(let known) = TokenStore.resolve(token, admin: adminToken) { caller = known }
                return try await perform(operation, caller: caller)
            case .refused(let error):
                throw error
            case .lookUp(let lookup):
                // A metric board's read of the token's own org goes with its look-up.
                if lookup.org == operation.org, let read = try? scriptRead(operation) {
                    return try await self.read(operation, read, lookup: lookup)
                }
                let caller = try lookup.caller(try await reader.redis.send(lookup.command))
                try decide(operation, caller: caller)
                return try await perform(operation, caller: caller)
            }
        } catch let error as OperationError {
            outcome = "\(error.kind.httpStatus)"
            throw error
        } catch let error as StoreError {
            let error = OperationError(error)
            outcome = "\(error.kind.httpStatus)"
            throw error
        } catch let refusal as EventLog.Refusal {
            let error = switch refusal {
            case .notFound(let message): OperationError(.notFound, message)
            case .conflict(let message): OperationError(.conflict, message)
            case .invalid(let message): OperationError(.badRequest, message)
            }
            outcome = "\(error.kind.httpStatus)"
            throw error
        } catch {
            outcome = "503"
            throw OperationError(.unavailable, "\(error)")  // RedisError says "redis…: …"
        }
    }

    /// Counts a request and its duration in the metrics.
    package func record(_ op: String, transport: String, outcome: String, since start: ContinuousClock.Instant) {
        metrics.makeCounter(descriptor: Self.requests, labels: [("op", op), ("transport", transport), ("outcome", outcome)])
            .increment()
        metrics.makeDurationHistogram(
            descriptor: Self.duration, labels: [("op", op), ("transport", transport)],
            buckets: [.microseconds(250), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .seconds(1)]
        ).record(ContinuousClock.now - start)
    }

    /// A read that needs nothing from Redis but its one script call: `top`, `rank` or `around`
    /// of a metric board. nil for any other operation, which goes through `run`.
    package func scriptRead(_ operation: Operation) throws(OperationError) -> ScriptRead? {
        guard let (org, board, period) = operation.boardRead else { return nil }
        do {
            guard let target = try reader.metricTarget(org: org, board: board, period: period) else { return nil }
            return ScriptRead(operation, on: target)
        } catch {
            throw OperationError(error)
        }
    }

    /// A `BoardReader.Read` whatever its answer's type, so a batch of them can go together.
    package struct ScriptRead: Sendable {
        package let call: ScriptCall
        package let answer: @Sendable (RedisReply) throws(OperationError) -> any FastJSON & Encodable & Sendable
        /// `call` for a caller that holds the answer as of the org's `version`.
        package let unlessAt: @Sendable (_ version: String) -> ScriptCall

        package func call(unlessAt version: String) -> ScriptCall { unlessAt(version) }

        /// The read a `top`, `rank` or `around` asks of `target`; nil for other operations.
        init?(_ operation: Operation, on target: BoardTarget) {
            switch operation {
            case .top(_, _, let offset, let limit, _): self.init(BoardReader.top(target, offset: offset, limit: limit))
            case .rank(_, _, let member, _): self.init(BoardReader.rank(target, member: member))
            case .around(_, _, let member, let n, _): self.init(BoardReader.around(target, member: member, n: n))
            default: return nil
            }
        }

        private init<Answer: FastJSON & Encodable & Sendable>(_ read: BoardReader.Read<Answer>) {
            call = read.call
            unlessAt = { version in read.call(unlessAt: version) }
            answer = { reply throws(OperationError) in
                do throws(StoreError) {
                    return try read.answer(reply)
                } catch {
                    throw OperationError(error)
                }
            }
        }
    }

    /// A board read and its token's look-up (if any) in one round trip, shared with the reads
    /// of concurrent requests; the read's answer only once the token is found to allow it.
    private func read(_ operation: Operation, _ read: ScriptRead, lookup: TokenStore.Lookup?) async throws -> any Encodable & Sendable {
        let cached = cachedRead(read)
        if lookup == nil, let kept = current(cached) { return kept }
        let call = cached.call
        let (lookedUp, replies) = try await reader.replies([call], after: lookup.map { [$0.command] } ?? [])
        if let lookup { try decide(operation, caller: try lookup.caller(lookedUp[0])) }
        return try finish(cached, reply: replies[0])
    }

    /// A board read as the cache asks it: in full, or only if the org changed since the answer
    /// it keeps (`ReadCache`).
    struct CachedRead: Sendable {
        let read: ScriptRead
        let key: String
        let kept: ReadCache.Kept?
        var call: ScriptCall { kept.map { read.call(unlessAt: $0.version) } ?? read.call }
    }

    func cachedRead(_ read: ScriptRead) -> CachedRead {
        let key = ReadCache.key(read.call)
        return CachedRead(read: read, key: key, kept: cache.kept(key))
    }

    /// The kept answer, when its org's version is known without asking Redis (`versions`) and
    /// is still the one the answer was read at: the read is answered from memory. The version
    /// is asked only of reads with a kept answer, so a stream of reads each asked once (ranks
    /// of many members) costs the watch nothing.
    func current(_ cached: CachedRead) -> ReadCache.Kept? {
        // The org's sequence is the call's last key (read-board.lua).
        guard let kept = cached.kept, let versions, let key = cached.read.call.keys.last,
            case .some(.some(let version)) = versions.value(of: key),
            version == kept.version
        else { return nil }
        self.kept.hit.increment()
        return kept
    }

    /// The answer to a cached read from the script's reply: the kept one while the org has not
    /// changed, else the new one, which is kept in its place.
    func finish(_ cached: CachedRead, reply: RedisReply) throws(OperationError) -> ReadCache.Kept {
        if case .error(let message) = reply { throw OperationError(.unavailable, "redis: \(message)") }
        let version = BoardReader.Version(reply)
        if version.unchanged {
            guard let kept = cached.kept, kept.version == version.value else {
                throw OperationError(.unavailable, "redis: the board's answer came back without its rows")
            }
            self.kept.hit.increment()
            return kept
        }
        self.kept.miss.increment()
        let answer = try cached.read.answer(reply)
        guard !version.value.isEmpty else {
            return ReadCache.Kept(version: "", answer: answer, key: cached.key)
        }
        return cache.keep(cached.key, version: version.value, answer: answer)
    }

    /// What is known of a request's access before Redis is asked (SPEC "Access"): a token is
    /// looked up afresh on every request, one `HGET` in its org's slot, never cached.
    package enum Precheck: Sendable {
        case allowed
        case refused(OperationError)
        /// The token must be looked up; `decide` then tells.
        case lookUp(TokenStore.Lookup)
    }

    package func precheck(_ operation: Operation, token: String?) -> Precheck {
        guard policy.needsCaller(for: operation.access) else { return .allowed }
        let caller: Caller
        switch TokenStore.resolve(token, admin: adminToken) {
        case .lookUp(let lookup): return .lookUp(lookup)
        case .known(let known): caller = known
        }
        do {
            try decide(operation, caller: caller)
            return .allowed
        } catch {
            return .refused(error)
        }
    }

    /// Whether `caller` may do `operation`.
    package func decide(_ operation: Operation, caller: Caller) throws(OperationError) {
        do {
            try policy.check(caller, org: operation.org, need: operation.access)
        } catch {
            throw OperationError(error.status == 401 ? .unauthorized : .forbidden, error.message)
        }
    }

    private func perform(_ operation: Operation, caller: Caller?) async throws -> any Encodable & Sendable {
        switch operation {
        case .boards(let org):
            return BoardList(org: org, boards: try await reader.boards(org: org))

        case .top, .rank, .around:
            let (org, board, period) = operation.boardRead!
            let read = ScriptRead(operation, on: try await reader.target(org: org, board: board, period: period))!
            return try read.answer(try await reader.reply(read.call))

        case .member(let org, let member):
            var targets: [BoardTarget] = []
            for board in try await reader.boards(org: org) {
                // Boards the rules no longer define (and contests gone) are skipped, not errors;
                // Redis being away is one.
                do {
                    targets.append(try await reader.target(org: org, board: board, period: nil))
                } catch is StoreError {
                    continue
                }
            }
            return MemberStanding(org: org, member: member, boards: try await reader.ranks(targets, member: member))

        case .repPut(let org, let rep, let name, let team):
            try await RepDirectory(redis: reader.redis).put(org: org, rep: rep, name: name, team: team)
            return RepEntry(org: org, rep: rep, name: name, team: team)

        case .contestCreate(let org, let definition):
            return try await contests.create(org: org, definition: definition)
        case .contestList(let org, let state):
            return ContestList(org: org, contests: try await contests.list(org: org, state: state))
        case .contestGet(let org, let id):
            return try await contests.get(org: org, id: id)
        case .contestEnd(let org, let id):
            return try await contests.end(org: org, id: id)
        case .contestCancel(let org, let id):
            return try await contests.cancel(org: org, id: id)

        case .tokenCreate(let org, let role, let name):
            let minted = try await tokens.create(org: org, role: role, name: name)
            logger.notice("token created", metadata: ["org": "\(org)", "id": "\(minted.id)", "role": "\(role.rawValue)"])
            return minted
        case .tokenList(let org):
            return TokenList(tokens: try await tokens.list(org: org))
        case .tokenRevoke(let org, let id):
            guard try await tokens.revoke(org: org, id: id) else { throw OperationError(.notFound, "id: no token \(id.quoted) in org \(org.quoted)") }
            logger.notice("token revoked", metadata: ["org": "\(org)", "id": "\(id)"])
            return Revoked(id: id)

        case .fieldKeyAdd(let org, let publicKey, let name):
            let key = try await FieldKeyStore(redis: reader.redis).add(org: org, publicKey: publicKey, name: name)
            logger.notice("field key registered", metadata: ["org": "\(org)", "id": "\(key.id)", "public-key": "\(publicKey)"])
            return key
        case .fieldKeyList(let org):
            return FieldKeyList(fieldKeys: try await FieldKeyStore(redis: reader.redis).list(org: org))
        case .fieldKeyRevoke(let org, let id):
            guard try await FieldKeyStore(redis: reader.redis).revoke(org: org, id: id) else {
                throw OperationError(.notFound, "id: no field key \(id.quoted) in org \(org.quoted)")
            }
            logger.notice("field key revoked", metadata: ["org": "\(org)", "id": "\(id)"])
            return Revoked(id: id)

        case .eventGet(let org, let id):
            // An org that keeps no log (`log_days: 0`) shows no event, not even one logged before.
            guard reader.rules.rules(for: org).keepsLog, let record = try await EventLog(redis: reader.redis).record(org: org, id: id) else {
                throw OperationError(.notFound, "id: no event \(id.quoted) in the activity log of org \(org.quoted)")
            }
            return EventLog.View(record)
        case .eventRetract(let org, let id):
            let log = EventLog(redis: reader.redis)
            let before = try await log.record(org: org, id: id)
            let after = try await log.retract(org: org, id: id, by: Self.by(caller), rules: reader.rules.rules(for: org))
            if before?.status != "retracted" { announceCorrection(before, after, org: org) }
            return Retracted(id: id, status: after.status)
        case .eventAmend(let org, let id, let changes):
            let log = EventLog(redis: reader.redis)
            let before = try await log.record(org: org, id: id)
            let after = try await log.amend(org: org, id: id, changes: changes, by: Self.by(caller), rules: reader.rules.rules(for: org))
            if before?.seen != after.seen { announceCorrection(before, after, org: org) }
            return EventLog.View(after)
        case .activity(let org, let limit, let rep, let kind, let before):
            guard reader.rules.rules(for: org).keepsLog else { return ActivityPage(activity: [], next: nil) }
            let page = try await EventLog(redis: reader.redis).activity(org: org, before: before, limit: limit, rep: rep, kind: kind)
            return ActivityPage(activity: page.records.map(EventLog.View.init), next: page.next?.description)

        case .quotaPut(let org, let body):
            let quotas: [Quota]
            do {
                quotas = try Quota.batch(body, rules: reader.rules.rules(for: org))
            } catch {
                throw OperationError(.badRequest, error.description)
            }
            let (saved, moved) = try await QuotaStore(redis: reader.redis).put(
                org: org, quotas, rules: reader.rules.rules(for: org), now: Timestamp.now())
            logger.info("quotas saved", metadata: ["org": "\(org)", "quotas": "\(saved)"])
            announceAttainment(moved, org: org)
            return QuotasSaved(saved: saved)
        case .quotaList(let org, let metric, let window, let scope, let member):
            let quotas = try await QuotaStore(redis: reader.redis).list(org: org, metric: metric, window: window, scope: scope, member: member)
            return QuotaList(quotas: quotas)
        case .quotaDelete(let org, let board, let member, let period):
            guard let moved = try await QuotaStore(redis: reader.redis).delete(
                org: org, board: board, member: member, period: period, rules: reader.rules.rules(for: org), now: Timestamp.now())
            else {
                let which = period.map { " for period \($0)" } ?? " for every period"
                throw OperationError(.notFound, "member: no quota of \(member.quoted) on \(board)\(which) in org \(org.quoted)")
            }
            announceAttainment(moved, org: org)
            return QuotaDeleted(board: board.description, member: member, period: period)
        }
    }

    /// Who made a correction, as the log records it: `admin`, or `token:<id>`.
    private static func by(_ caller: Caller?) -> String {
        switch caller {
        case .admin: "admin"
        case .member(_, _, let id): "token:\(id)"
        default: "anonymous"
        }
    }

    /// Tells notification what a correction moved: the boards the event added to before and
    /// adds to now (and the rolling boards that end today), and the correction itself for
    /// `_events`. Displays then get an ordinary `update`.
    private func announceCorrection(_ before: EventLog.Record?, _ after: EventLog.Record, org: String) {
        let rules = reader.rules.rules(for: org)
        let today = LocalDate(milliseconds: Timestamp.now(), in: rules.timeZone)
        var boards = Set<String>()
        var changes: [ChangeNotice.BoardChange] = []
        for increment in (before?.contribution?.increments ?? []) + (after.contribution?.increments ?? []) {
            guard boards.insert("\(increment.board) \(increment.period)").inserted else { continue }
            changes.append(.init(board: increment.board, period: increment.period))
            if let id = BoardID(increment.board), AttainmentSync.hasQuotas(id) {
                changes.append(.init(board: id.attainment, period: increment.period))
            }
            guard let id = BoardID(increment.board), id.window == .today, let day = LocalDate(label: increment.period) else { continue }
            for window in rules.windows where window.isRolling {
                let age = today.daysSinceEpoch - day.daysSinceEpoch
                guard age >= 0, age < window.rollingDays! else { continue }
                let rolling = BoardID(metric: id.metric, window: window, scope: id.scope).description
                if boards.insert("\(rolling) \(today.label)").inserted { changes.append(.init(board: rolling, period: today.label)) }
            }
        }
        let was = before?.event ?? after.event
        let now = after.event
        let amended = after.status == "amended"
            ? ChangeNotice.Activity(
                id: now.id, rep: now.rep, name: now.repName, team: now.team, kind: now.kind, value: now.value, at: Timestamp.format(now.at))
            : nil
        let notice = ChangeNotice(
            org: org, boards: changes, deals: [],
            corrections: [.init(
                id: now.id, rep: was.rep, name: was.repName, status: after.status, event: amended,
                feed: amended.map { rules.feedKinds.contains($0.kind) })])
        do {
            announce(try ChangeMessage.changes(notice).frames())
        } catch {
            logger.warning("correction not announced", metadata: ["org": "\(org)", "id": "\(after.event.id)", "error": "\(error)"])
        }
    }

    /// Tells notification which attainment boards a quota change moved, so displays get an
    /// ordinary `update`. (A quota change announces no milestone: see sync-attainment.lua.)
    private func announceAttainment(_ moved: AttainmentSync.Outcome, org: String) {
        guard !moved.written.isEmpty else { return }
        let notice = ChangeNotice(org: org, boards: moved.written.map { .init(board: $0.board, period: $0.period) }, deals: [])
        do {
            announce(try ChangeMessage.changes(notice).frames())
        } catch {
            logger.warning("quota change not announced", metadata: ["org": "\(org)", "error": "\(error)"])
        }
    }

    /// Whether Redis answers.
    package func healthy() async -> Bool {
        (try? await reader.redis.send(["PING"])) == .status("PONG")
    }
}
