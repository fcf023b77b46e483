import Foundation
import Redis
import TallyDomain
import TallyStore
import TallyTesting
import Testing

/// Every key a script touches arrives in its KEYS, as Redis Cluster requires: each script runs
/// under `redis-cli monitor`, and every command it makes is checked with `COMMAND GETKEYS`
/// against the keys its EVALSHA declared.
@Suite struct DeclaredKeysTests {
    @Test func everyScriptTouchesOnlyTheKeysItDeclares() async throws {
        let server = try RedisServer()
        let connection = server.connection()
        let log = server.directory.appendingPathComponent("monitor.log")
        let monitor = try ChildProcess(try Executables.installed("redis-cli"), ["-p", String(server.port), "monitor"], logFile: log)
        defer { monitor.stop(within: 2) }
        try wait("redis-cli monitor to start") { (try connection.send("CLIENT", "LIST").string ?? "").contains("cmd=monitor") }

        // Both writers (a race makes the batch go event by event; a new batch takes the sums)...
        let rules = Rules.default
        let race = try ContestDefinition.decode(Data("""
            {"id": "race", "name": "Race", "metric": "doors", "goal": 2,
             "starts_at": "2026-11-29T00:00:00Z", "ends_at": "2026-11-30T00:00:00Z"}
            """.utf8)).validated(rules: rules)
        let at = ScriptCallTests.at
        let events = ["ana", "bo", "ana"].enumerated().map { index, rep in
            ActivityEvent(id: "e\(index)", org: "acme", rep: rep, repName: rep.uppercased(), team: "north", kind: "door_knock", at: at)
        }
        let racePlan = ScoringPlan(org: "acme", events: events, rules: rules, contests: [.init(contest: race, finishedAt: nil)], now: at)
        _ = try BoardWriter.apply(racePlan, rules: rules, now: at, on: connection)
        let next = ActivityEvent(id: "e9", org: "acme", rep: "cy", kind: "deal_won", value: 500, at: at)
        _ = try BoardWriter.apply(ScoringPlan(org: "acme", events: [next], rules: rules), rules: rules, now: at, on: connection)

        // ...the corrections (a retraction, an amendment that moves a deal to another rep and kind)...
        let client = RedisClient(server.configuration)
        let running = Task { [client] in await client.run() }
        defer { running.cancel() }
        let eventLog = EventLog(redis: client)
        _ = try await eventLog.retract(org: "acme", id: "e0", by: "admin", rules: rules)
        _ = try await eventLog.amend(org: "acme", id: "e9", changes: .init(value: 20, kind: "demo", rep: "di"), by: "admin", rules: rules)

        // ...and every kind of read: a page, a rank, around, of calendar, rolling, team and contest boards.
        var reads: [ScriptCall] = []
        for (board, period) in [("points:today:reps", "2026-11-29"), ("points:7d:reps", "2026-11-29"), ("revenue:30d:teams", "2026-11-29"), ("doors:month:teams", "2026-11")] {
            let target = try #require(try BoardTarget.metric(org: "acme", board: board, period: period, rules: rules))
            reads += [target.call(mode: "page", 0, 10, member: ""), target.call(mode: "rank", 0, 0, member: "ana"),
                      target.call(mode: "around", 2, 0, member: "north")]
        }
        let contestBoard = BoardTarget(org: "acme", contest: race)
        reads += [contestBoard.call(mode: "page", 0, 10, member: ""), contestBoard.call(mode: "around", 1, 0, member: "bo")]
        for reply in try BoardReader.replies(reads, on: connection) { _ = try reply.throwingError() }
        // An org token is made under its org's cap by a script too.
        _ = try TokenStore.create(org: "acme", role: .viewer, name: "Lobby TV", on: connection)
        // Quotas are saved over several boards' hashes at once, and deleted one by one (the last
        // of a board's too, which takes the board out of the index).
        let quotas = QuotaStore(redis: client)
        _ = try await quotas.put(org: "acme", [
            Quota(metric: "revenue", window: .month, scope: .reps, member: "ana", target: 20000),
            Quota(metric: "revenue", window: .month, scope: .reps, member: "ana", target: 30000, period: "2026-12"),
            Quota(metric: "deals", window: .week, scope: .teams, member: "north", target: 4),
        ])
        // A deal then moves ana's attainment board (scoring's sync), which is read like any board.
        let deal = ActivityEvent(id: "e10", org: "acme", rep: "ana", kind: "deal_won", value: 5000, at: at)
        _ = try BoardWriter.apply(ScoringPlan(org: "acme", events: [deal], rules: rules), rules: rules, now: at, on: connection)
        let attainment = try #require(try BoardTarget.metric(org: "acme", board: "attainment:revenue:month:reps", period: "2026-11", rules: rules))
        let revenue = try #require(try BoardTarget.metric(org: "acme", board: "revenue:month:reps", period: "2026-11", rules: rules))
        let quotaReads = [attainment.call(mode: "page", 0, 10, member: ""), attainment.call(mode: "rank", 0, 0, member: "ana"),
                          revenue.call(mode: "page", 0, 10, member: ""), revenue.call(mode: "rank", 0, 0, member: "ana")]
        for reply in try BoardReader.replies(quotaReads, on: connection) { _ = try reply.throwingError() }
        _ = try await quotas.delete(org: "acme", board: BoardID(metric: "revenue", window: .month, scope: .reps), member: "ana", period: "2026-12")
        _ = try await quotas.delete(org: "acme", board: BoardID(metric: "deals", window: .week, scope: .teams), member: "north", period: nil)

        _ = try connection.send("ECHO", "end of scripts")
        try wait("the monitor to log everything") { (try? String(contentsOf: log, encoding: .utf8))?.contains("end of scripts") == true }

        var declared: Set<String> = []
        var scripts = 0, checked = 0
        for line in try String(contentsOf: log, encoding: .utf8).split(separator: "\n") {
            guard let words = MonitorLine(line) else { continue }
            if words.fromLua {
                let keys = try connection.send(["COMMAND", "GETKEYS"] + words.arguments).array?.compactMap(\.string) ?? []
                for key in keys {
                    #expect(declared.contains(key), "\(words.arguments[0]) touches \(key), which its script did not declare")
                }
                checked += 1
            } else if words.arguments.first?.uppercased() == "EVALSHA", let count = Int(words.arguments[2]) {
                declared = Set(words.arguments[3..<(3 + count)])
                scripts += 1
            }
        }
        // 2 or 3 script calls for the writers (a summed attempt may come first), 2 corrections, 14 reads, a token,
        // a quota put and two deletes.
        #expect(scripts >= 22)
        #expect(checked > 100)
    }
}

/// One line of `redis-cli monitor`: `1701463000.123456 [0 lua] "ZINCRBY" "key" "1" "ana"`.
struct MonitorLine {
    let fromLua: Bool
    let arguments: [String]

    init?(_ line: Substring) {
        guard let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]") else { return nil }
        fromLua = line[open..<close].hasSuffix(" lua")
        var arguments: [String] = []
        var bytes: [UInt8] = []
        var quoted = false
        var iterator = Array(line[line.index(after: close)...].utf8).makeIterator()
        while let byte = iterator.next() {
            switch (quoted, byte) {
            case (false, UInt8(ascii: "\"")): quoted = true
            case (true, UInt8(ascii: "\"")):
                quoted = false
                arguments.append(String(decoding: bytes, as: UTF8.self))
                bytes = []
            case (true, UInt8(ascii: "\\")):
                guard let escaped = iterator.next() else { return nil }
                switch escaped {
                case UInt8(ascii: "n"): bytes.append(10)
                case UInt8(ascii: "r"): bytes.append(13)
                case UInt8(ascii: "t"): bytes.append(9)
                case UInt8(ascii: "x"):
                    guard let high = iterator.next(), let low = iterator.next(),
                        let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                    else { return nil }
                    bytes.append(value)
                default: bytes.append(escaped)
                }
            case (true, _): bytes.append(byte)
            default: continue
            }
        }
        guard !arguments.isEmpty else { return nil }
        self.arguments = arguments
    }
}

/// `redis-cli monitor` on a test's server: every command it runs from then on, scripts' own included.
final class RedisMonitor {
    private let connection: RedisConnection
    private let log: URL
    private let process: ChildProcess

    init(_ server: RedisServer) throws {
        connection = server.connection()
        log = server.directory.appendingPathComponent("monitor-\(UUID().uuidString).log")
        process = try ChildProcess(try Executables.installed("redis-cli"), ["-p", String(server.port), "monitor"], logFile: log)
        try wait("redis-cli monitor to start") { [connection] in (try connection.send("CLIENT", "LIST").string ?? "").contains("cmd=monitor") }
    }

    deinit { process.stop(within: 2) }

    /// The commands logged so far.
    func commands() throws -> [MonitorLine] {
        let marker = "end-\(UUID().uuidString)"
        _ = try connection.send("ECHO", marker)
        try wait("the monitor to log everything") { [log] in (try? String(contentsOf: log, encoding: .utf8))?.contains(marker) == true }
        return try String(contentsOf: log, encoding: .utf8).split(separator: "\n").compactMap(MonitorLine.init)
    }
}
