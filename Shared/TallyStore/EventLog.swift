import Foundation
import Redis
import TallyDomain

/// An org's activity log and its corrections: an event as recorded (`record`), the log newest
/// first (`activity`), and an event retracted or amended in one script call
/// (`correct-event.lua`) that takes back exactly what its log entry says it added.
package struct EventLog: Sendable {
    package let redis: RedisClient

    package init(redis: RedisClient) {
        self.redis = redis
    }

    /// One step of an event's history: accepted, then each correction.
    package struct Step: Sendable, Equatable, Encodable {
        package var status: String
        package var receivedAt: String
        package var by: String?
        package var changes: [String]?

        package init(status: String, receivedAt: String, by: String? = nil, changes: [String]? = nil) {
            self.status = status
            self.receivedAt = receivedAt
            self.by = by
            self.changes = changes
        }

        enum CodingKeys: String, CodingKey {
            case status, receivedAt = "received_at", by, changes
        }
    }

    /// An event as now recorded: its latest version, its status and its history.
    package struct Record: Sendable, Equatable {
        package var event: ActivityEvent
        /// The name shown: the one the event carried, else the directory's, else the rep id.
        package var name: String
        /// When it was first accepted (ms).
        package var receivedAt: Int64
        /// `accepted`, `amended` or `retracted`.
        package var status: String
        /// What the event adds now (nothing once retracted).
        package var contribution: Contribution?
        package var history: [Step]
        /// The idempotency record as read: what a correction checks it still finds.
        package var seen: String
        /// The log id of the event's first entry (a listing's cursor).
        package var logID: LogID
    }

    /// The answer of `event.get`, and each item of `activity`.
    package struct View: Sendable, Encodable, Equatable {
        let id, rep, name: String
        let team: String?
        let kind: String
        let value: Double
        let at, receivedAt: String
        let status: String
        let history: [Step]

        package init(_ record: Record) {
            id = record.event.id
            rep = record.event.rep
            name = record.name
            team = record.event.team
            kind = record.event.kind
            value = record.event.value
            at = Timestamp.format(record.event.at)
            receivedAt = Timestamp.format(record.receivedAt)
            status = record.status
            history = record.history
        }

        enum CodingKeys: String, CodingKey {
            case id, rep, name, team, kind, value, at, receivedAt = "received_at", status, history
        }

        package func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(rep, forKey: .rep)
            try c.encode(name, forKey: .name)
            try c.encode(team, forKey: .team)  // null when none: every field is always there
            try c.encode(kind, forKey: .kind)
            try c.encode(value, forKey: .value)
            try c.encode(at, forKey: .at)
            try c.encode(receivedAt, forKey: .receivedAt)
            try c.encode(status, forKey: .status)
            try c.encode(history, forKey: .history)
        }
    }

    /// The event `id` of `org` as now recorded; nil when the org never accepted it, its log
    /// entry is gone (older than the log keeps), or it was accepted before the log existed.
    package func record(org: String, id: String) async throws -> Record? {
        let keys = Keys(org: org)
        guard let seen = try await redis.send(["GET", keys.seen(id)]).string else { return nil }
        return try await records(org: org, seen: [seen]).first ?? nil
    }

    /// The records whose idempotency records read `seen`, each in two round trips for all: the
    /// log entries they name, then the reps' names.
    private func records(org: String, seen: [String?]) async throws -> [Record?] {
        let keys = Keys(org: org)
        let versions = seen.map { value in (value ?? "").split(separator: " ").compactMap(LogID.init) }
        let ids = Array(Set(versions.flatMap { $0 })).sorted()
        let commands: [[String]] = ids.map { ["XRANGE", keys.activity, $0.description, $0.description] }
        let replies = commands.isEmpty ? [] : try await redis.withConnection { try $0.pipeline(commands.map { $0 as [any RedisArgument] }) }
        var entries: [LogID: LogEntry] = [:]
        for (id, reply) in zip(ids, replies) {
            guard let item = try reply.throwingError().array?.first?.array, item.count == 2,
                let fields = item[1].array, fields.count == 2, case .bulk(let json) = fields[1], let entry = LogEntry.decode(json)
            else { continue }
            entries[id] = entry
        }
        var out: [Record?] = []
        for (value, ids) in zip(seen, versions) {
            guard let first = ids.first, let accepted = entries[first], var event = accepted.event(org: org) else {
                out.append(nil)
                continue
            }
            var status = "accepted"
            var contribution = accepted.contribution
            var history = [Step(status: "accepted", receivedAt: Timestamp.format(first.milliseconds))]
            for id in ids.dropFirst() {
                guard let entry = entries[id] else { continue }
                status = entry.status
                history.append(Step(status: entry.status, receivedAt: Timestamp.format(id.milliseconds), by: entry.by, changes: entry.changes))
                if entry.status == "retracted" {
                    contribution = nil
                } else if let amended = entry.event(org: org) {
                    event = amended
                    contribution = entry.contribution
                }
            }
            out.append(Record(
                event: event, name: event.repName ?? event.rep, receivedAt: first.milliseconds, status: status,
                contribution: contribution, history: history, seen: value ?? "", logID: first))
        }
        let reps = Array(Set(out.compactMap { $0 }.filter { $0.event.repName == nil }.map(\.event.rep))).sorted()
        if !reps.isEmpty {
            let names = try await redis.send(["HMGET", keys.names] + reps).array ?? []
            var byRep: [String: String] = [:]
            for (rep, name) in zip(reps, names) { byRep[rep] = name.string }
            for index in out.indices where out[index]?.event.repName == nil {
                if let name = byRep[out[index]!.event.rep] { out[index]!.name = name }
            }
        }
        return out
    }

    /// One page of the log: accepted events newest first (each as now recorded), those before
    /// `before` only, of rep `rep` and kind `kind` if given (as now recorded). Reads at most
    /// `scanLimit` log entries per call: `next` is where to go on, nil at the log's start.
    package func activity(
        org: String, before: LogID?, limit: Int, rep: String?, kind: String?, scanLimit: Int = 5_000
    ) async throws -> (records: [Record], next: LogID?) {
        let keys = Keys(org: org)
        var found: [Record] = []
        var cursor = before
        var scanned = 0
        while found.count < limit && scanned < scanLimit {
            let count = min(max(limit - found.count, 50), 500)
            let end = cursor.map { "(" + $0.description } ?? "+"
            let reply = try await redis.send(["XREVRANGE", keys.activity, end, "-", "COUNT", String(count)])
            let items = try reply.throwingError().array ?? []
            var accepted: [(LogID, String)] = []
            for item in items {
                guard let pair = item.array, pair.count == 2, let id = pair[0].string.flatMap(LogID.init),
                    let fields = pair[1].array, fields.count == 2, case .bulk(let json) = fields[1]
                else { continue }
                cursor = id
                // Corrections are found through their event's record; only events start an item.
                guard let entry = LogEntry.decode(json), entry.status == "accepted" else { continue }
                accepted.append((id, entry.id))
            }
            scanned += items.count
            if !accepted.isEmpty {
                let gets: [[String]] = accepted.map { ["GET", keys.seen($0.1)] }
                let seen = try await redis.withConnection { connection in
                    try connection.pipeline(gets.map { $0 as [any RedisArgument] }).map(\.string)
                }
                for ((id, _), record) in zip(accepted, try await records(org: org, seen: seen)) {
                    // The record must start at this entry: an id sent again after its record
                    // expired is another event.
                    guard let record, record.logID == id else { continue }
                    if let rep, record.event.rep != rep { continue }
                    if let kind, record.event.kind != kind { continue }
                    if found.count < limit {
                        found.append(record)
                    }
                    if found.count == limit {
                        return (found, id)
                    }
                }
            }
            if items.count < count { return (found, nil) }
        }
        return (found, cursor)
    }

    /// Why a correction was not made.
    package enum Refusal: Error, Sendable, Equatable {
        case notFound(String)
        case conflict(String)
        case invalid(String)
    }

    /// Takes back what the event adds; returns it as now recorded. A retracted event is
    /// answered as it is, with nothing written.
    package func retract(org: String, id: String, by: String, rules: Rules, now: Int64 = Timestamp.now()) async throws -> Record {
        try await correct(org: org, id: id, rules: rules, now: now) { record in
            record.status == "retracted" ? nil : (nil, LogEntry.retracted(id: id, by: by))
        }
    }

    /// What an amendment changes; nil fields stay as they are (a team of "" clears it).
    package struct Changes: Sendable, Equatable {
        package var value: Double?
        package var kind: String?
        package var rep: String?
        package var team: String?

        package init(value: Double? = nil, kind: String? = nil, rep: String? = nil, team: String? = nil) {
            self.value = value
            self.kind = kind
            self.rep = rep
            self.team = team
        }
    }

    /// Replaces what the event adds by what it adds with `changes`, in one step; returns it
    /// as now recorded. Changes that change nothing write nothing.
    package func amend(
        org: String, id: String, changes: Changes, by: String, rules: Rules, now: Int64 = Timestamp.now()
    ) async throws -> Record {
        if let kind = changes.kind, !rules.kinds.contains(kind) {
            throw Refusal.invalid("kind: unknown activity kind \(kind.quoted)")
        }
        return try await correct(org: org, id: id, rules: rules, now: now) { record in
            guard record.status != "retracted" else { throw Refusal.conflict("id: event \(id.quoted) is retracted and cannot be amended") }
            var event = record.event
            if let value = changes.value { event.value = value }
            if let kind = changes.kind { event.kind = kind }
            if let rep = changes.rep, rep != event.rep {
                event.rep = rep
                event.repName = nil  // the name it carried was the old rep's: the directory names the new one
            }
            if let team = changes.team { event.team = team.isEmpty ? nil : team }
            guard event != record.event else { return nil }
            return (event, "")
        } entry: { event, contribution in
            LogEntry.amended(event, contribution, by: by, changes: [])
        }
    }

    /// Reads the record, asks `decide` what to do (nil: nothing), and runs the script; reads
    /// again and starts over when the script finds that something changed since.
    private func correct(
        org: String, id: String, rules: Rules, now: Int64,
        _ decide: (Record) throws -> (amended: ActivityEvent?, entry: String)?,
        entry makeEntry: ((ActivityEvent, Contribution) -> String)? = nil
    ) async throws -> Record {
        guard rules.keepsLog else {
            throw Refusal.notFound("id: org \(org.quoted) keeps no activity log (its rules have log_days: 0), so no event can be corrected")
        }
        for _ in 0..<20 {
            guard let record = try await record(org: org, id: id) else {
                throw Refusal.notFound("id: no event \(id.quoted) in the activity log of org \(org.quoted)")
            }
            guard let decision = try decide(record) else { return record }
            let (call, moved) = try await correctionCall(org: org, record: record, amended: decision.amended, rules: rules, now: now) { event, contribution in
                guard let makeEntry else { return decision.entry }
                return Self.amendedEntry(makeEntry(event, contribution), record: record.event, amended: event)
            }
            // The attainment boards of what it moved follow in the same round trip. A milestone
            // an amendment crosses is recorded, not announced: a correction fixes the record.
            let syncs = AttainmentSync.calls(.score, org: org, rules: rules, boards: moved)
            let replies = try await redis.withConnection { connection in
                try connection.pipeline(
                    scripted: [(Scripts.correctEvent, call.keys, call.arguments)] + syncs.map { (Scripts.syncAttainment, $0.keys, $0.arguments) })
            }
            let reply = try replies[0].throwingError()
            if reply.array?.first?.int == 1 {
                guard let after = try await self.record(org: org, id: id) else { break }
                return after
            }
        }
        throw RedisError(.connection, "the event kept changing while it was corrected; try again")
    }

    /// An amendment's entry with the fields that changed.
    private static func amendedEntry(_ entry: String, record old: ActivityEvent, amended new: ActivityEvent) -> String {
        var changes: [String] = []
        if old.value != new.value { changes.append("value") }
        if old.kind != new.kind { changes.append("kind") }
        if old.rep != new.rep { changes.append("rep") }
        if old.team != new.team { changes.append("team") }
        return entry.replacingOccurrences(of: ",\"changes\":[]", with: ",\"changes\":[" + changes.map { "\"\($0)\"" }.joined(separator: ",") + "]")
    }

    /// `correct-event.lua`'s call: what the record adds taken back, what `amended` adds under
    /// today's rules put in, netted per board and member; contests that are final or
    /// cancelled are left out, and the definitions of the others are checked unchanged. With
    /// it, the metric boards and members it moves, for their attainment boards.
    private func correctionCall(
        org: String, record: Record, amended: ActivityEvent?, rules: Rules, now: Int64,
        entry: (ActivityEvent, Contribution) -> String
    ) async throws -> (ScriptCall, [AttainmentSync.Board]) {
        let keys = Keys(org: org)
        let raw = try await redis.send(["HGETALL", keys.contests]).array ?? []
        var definitions: [String: String] = [:]
        var contests: [String: Contest] = [:]
        for pair in stride(from: 0, to: raw.count - 1, by: 2) {
            guard let id = raw[pair].string, let json = raw[pair + 1].string,
                let contest = try? JSONDecoder().decode(Contest.self, from: Data(json.utf8))
            else { continue }
            definitions[id] = json
            contests[id] = contest
        }
        let finishes = try await ContestStore(redis: redis).finishes(Array(contests.values), org: org)
        func open(_ id: String) -> Bool {
            guard let contest = contests[id] else { return false }
            let state = contest.state(at: now, finishedAt: finishes[id]?.at)
            return state != .final && state != .cancelled
        }

        struct Line { var expireAt: Int64?; var goal: Double?; var amounts: [String: Double] = [:]; var order: [String] = [] }
        var lines: [String: Line] = [:]  // by board key
        var boardOrder: [(name: String, period: String)] = []
        func add(_ board: String, _ period: String, _ member: String, _ amount: Double, expireAt: Int64?, goal: Double?) {
            let key = keys.board(board, period: period)
            if lines[key] == nil {
                lines[key] = Line(expireAt: expireAt, goal: goal)
                boardOrder.append((board, period))
            }
            if lines[key]!.amounts[member] == nil { lines[key]!.order.append(member) }
            lines[key]!.amounts[member, default: 0] += amount
            if let expireAt { lines[key]!.expireAt = expireAt }
        }
        for increment in record.contribution?.increments ?? [] {
            let contest = increment.board.hasPrefix("contest:") ? String(increment.board.dropFirst("contest:".count)) : nil
            if let contest, !open(contest) { continue }
            add(increment.board, increment.period, increment.member, -increment.amount, expireAt: nil, goal: contest.flatMap { contests[$0]?.goal })
        }
        var index: [String] = []
        var newEntry = entry(record.event, Contribution())
        if let amended {
            let inPlay = contests.values.filter { open($0.id) }.sorted { $0.id < $1.id }
                .map { ScoringPlan.ContestInPlay(contest: $0, finishedAt: finishes[$0.id]?.at) }
            let plan = ScoringPlan(org: org, events: [amended], rules: rules, contests: inPlay, now: record.receivedAt)
            for increment in plan.entries[0].increments where increment.amount != 0 {
                let board = plan.boards[increment.board]
                add(board.name, board.period, increment.member, increment.amount, expireAt: board.expiresAt, goal: board.goal)
            }
            index = BoardWriter.indexIDs(plan, rules: rules)
            newEntry = entry(amended, plan.entries[0].contribution)
        }
        // What nets to nothing is not written: its member keeps its place among equals.
        for key in lines.keys {
            var line = lines[key]!
            line.order.removeAll { abs(line.amounts[$0]!) < 1e-12 }
            lines[key] = line
        }
        boardOrder.removeAll { lines[keys.board($0.name, period: $0.period)]!.order.isEmpty }
        let contestIDs = Set(boardOrder.compactMap { $0.name.hasPrefix("contest:") ? String($0.name.dropFirst("contest:".count)) : nil }).sorted()

        var call = ScriptCall(
            keys: [keys.seen(record.event.id), keys.activity, keys.sequence, keys.boards, keys.contests],
            arguments: [record.seen, newEntry, String(now), rules.keepLogFrom(now), String(contestIDs.count)])
        for id in contestIDs { call.arguments += [id, definitions[id] ?? ""] }
        call.arguments.append(String(index.count))
        call.arguments += index
        call.arguments.append(String(boardOrder.count))
        var finishKeys: [String] = []
        var moved: [AttainmentSync.Board] = []
        for (name, period) in boardOrder {
            let key = keys.board(name, period: period)
            let line = lines[key]!
            if let id = BoardID(name) { moved.append(AttainmentSync.Board(id: id, period: period, members: line.order)) }
            call.keys += [key, keys.reached(name, period: period), keys.order(name, period: period)]
            call.arguments += [String(line.expireAt ?? 0), line.goal?.description ?? "", String(line.order.count)]
            for member in line.order { call.arguments += [member, line.amounts[member]!.description] }
            if line.goal != nil, name.hasPrefix("contest:") { finishKeys.append(keys.contestFinish(String(name.dropFirst("contest:".count)))) }
        }
        call.keys += finishKeys
        return (call, moved)
    }
}
