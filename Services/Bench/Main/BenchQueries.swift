import Foundation
import Synchronization
import Redis
import TallyDomain
import TallyLauncher
import TallyStore
import ZeroMQ

/// Queries on one big board: top 10 and a member's rank, through tally-leaderboard over HTTP
/// and ZeroMQ, and the same reads issued raw to Redis, each by 8 closed-loop clients.
enum Queries {
    struct Result {
        var rows: [(String, String, String)] = []
        /// A member of the sorted set alone.
        var bytesPerMember = 0.0
        /// With its reached sequence and its order index entry.
        var bytesPerMemberAll = 0.0
    }

    static func run(stack: BenchStack, members: Int, seconds: Double) throws -> Result {
        let org = "bench1m"
        let keys = Keys(org: org)
        let key = keys.board("points:all:reps", period: "all")
        let redis = try RedisConnection(url: stack.redisURL)
        let before = try usedMemory(redis)
        // The board as the scoring scripts leave it: scores (about ten members share each), when
        // each member reached its score, and the order index a page is read from; the sorted set
        // first, to measure its memory alone.
        func seed(_ lines: (Range<Int>) -> [[any RedisArgument]]) throws {
            for first in stride(from: 0, to: members, by: 50_000) {
                _ = try redis.pipeline(stride(from: first, to: min(first + 50_000, members), by: 1_000).flatMap { chunk in
                    lines(chunk..<min(chunk + 1_000, members))
                })
            }
        }
        let score = { (member: Int) in String(member * 7 % 100_003) }
        try seed { chunk in [["ZADD", key] + chunk.flatMap { [score($0), "rep-\($0)"] as [any RedisArgument] }] }
        let boardBytes = try usedMemory(redis) - before
        try seed { chunk in
            [["ZADD", keys.order("points:all:reps", period: "all")]
                + chunk.flatMap { [score($0), Keys.orderMember("rep-\($0)", reached: Int64($0))] as [any RedisArgument] },
             ["HSET", keys.reached("points:all:reps", period: "all")] + chunk.flatMap { ["rep-\($0)", String($0)] as [any RedisArgument] }]
        }
        // The org's version, as scoring leaves it: a read that finds it unmoved since the answer
        // the leaderboard keeps is answered from that answer (`ReadCache`).
        try redis.send("SET", keys.sequence, String(members))
        var result = Result()
        result.bytesPerMember = Double(boardBytes) / Double(members)
        result.bytesPerMemberAll = Double(try usedMemory(redis) - before) / Double(members)
        // A second board whose 20,000 members all tie: a page of it must cost what a page costs.
        let tie = Keys(org: "benchtie")
        for first in stride(from: 0, to: 20_000, by: 1_000) {
            let chunk = first..<first + 1_000
            _ = try redis.pipeline([
                ["ZADD", tie.board("points:all:reps", period: "all")] + chunk.flatMap { ["1", "rep-\($0)"] as [any RedisArgument] },
                ["ZADD", tie.order("points:all:reps", period: "all")]
                    + chunk.flatMap { ["1", Keys.orderMember("rep-\($0)", reached: Int64($0))] as [any RedisArgument] },
                ["HSET", tie.reached("points:all:reps", period: "all")] + chunk.flatMap { ["rep-\($0)", String($0)] as [any RedisArgument] },
            ])
        }
        try redis.send("SET", tie.sequence, "20000")

        // The same reads through a leaderboard whose reads need a token: what the look-up costs.
        let closed = try stack.closedLeaderboard()
        let viewer = try TokenStore.create(org: org, role: .viewer, name: "bench", on: redis).token

        let threads = 8
        let httpPort = stack.httpPort
        let leaderboard = stack.leaderboard
        let redisURL = stack.redisURL
        @Sendable func member() -> String { "rep-\(Int.random(in: 0..<members))" }
        typealias Call = () throws -> Void
        var kinds: [(String, @Sendable (Int) throws -> Call)] = [
            ("top 10, HTTP", { _ in
                let connection = try HTTPConnection(port: httpPort)
                return { guard try connection.get("/v1/orgs/\(org)/boards/points:all:reps?limit=10").status == 200 else { throw BenchError("top failed") } }
            }),
            ("top 10, ZeroMQ", { _ in
                let socket = try Socket(.req, options: [.linger(milliseconds: 0)])
                try socket.connect(leaderboard)
                let request = Data(#"{"op":"top","org":"\#(org)","board":"points:all:reps","limit":10}"#.utf8)
                return { try socket.send(request); _ = try socket.receive() }
            }),
            ("top 10, HTTP, a viewer token (reads closed)", { _ in
                let connection = try HTTPConnection(port: closed.httpPort)
                return {
                    guard try connection.get("/v1/orgs/\(org)/boards/points:all:reps?limit=10", token: viewer).status == 200 else {
                        throw BenchError("top with a token failed")
                    }
                }
            }),
            ("top 10, ZeroMQ, a viewer token (reads closed)", { _ in
                let socket = try Socket(.req, options: [.linger(milliseconds: 0)])
                try socket.connect(closed.endpoint)
                let request = Data(#"{"op":"top","org":"\#(org)","board":"points:all:reps","limit":10,"token":"\#(viewer)"}"#.utf8)
                return {
                    try socket.send(request)
                    guard let frames = try socket.receive(), frames.first?.starts(with: Data(#"{"ok":true"#.utf8)) == true else {
                        throw BenchError("top with a token failed")
                    }
                }
            }),
            ("top 10, ZeroMQ, the org changing 1,000 times a second", { thread in
                // One of the clients also moves the org's version every millisecond (as a busy
                // floor's events would), so most reads find the kept answer out of date.
                let socket = try Socket(.req, options: [.linger(milliseconds: 0)])
                try socket.connect(leaderboard)
                let writer = try RedisConnection(url: redisURL)
                let request = Data(#"{"op":"top","org":"\#(org)","board":"points:all:reps","limit":10}"#.utf8)
                var last = ContinuousClock.now
                return {
                    if thread == 0, ContinuousClock.now - last >= .milliseconds(1) {
                        _ = try writer.send("INCR", keys.sequence)
                        last = .now
                    }
                    try socket.send(request)
                    _ = try socket.receive()
                }
            }),
            ("top 10 of a 20000-way tie, ZeroMQ", { _ in
                let socket = try Socket(.req, options: [.linger(milliseconds: 0)])
                try socket.connect(leaderboard)
                let request = Data(#"{"op":"top","org":"benchtie","board":"points:all:reps","limit":10}"#.utf8)
                return { try socket.send(request); _ = try socket.receive() }
            }),
            ("top 10, raw Redis (ZREVRANGE WITHSCORES)", { _ in
                let connection = try RedisConnection(url: redisURL)
                return { _ = try connection.send("ZREVRANGE", key, "0", "9", "WITHSCORES") }
            }),
            ("rank of a member, HTTP", { _ in
                let connection = try HTTPConnection(port: httpPort)
                return { guard try connection.get("/v1/orgs/\(org)/boards/points:all:reps/members/\(member())").status == 200 else { throw BenchError("rank failed") } }
            }),
            ("rank of a member, ZeroMQ", { _ in
                let socket = try Socket(.req, options: [.linger(milliseconds: 0)])
                try socket.connect(leaderboard)
                return {
                    try socket.send(Data(#"{"op":"rank","org":"\#(org)","board":"points:all:reps","member":"\#(member())"}"#.utf8))
                    _ = try socket.receive()
                }
            }),
            ("rank of a member, raw Redis (ZREVRANK + ZSCORE)", { _ in
                let connection = try RedisConnection(url: redisURL)
                return {
                    let name = member()
                    _ = try connection.pipeline([["ZREVRANK", key, name], ["ZSCORE", key, name]])
                }
            }),
        ]
        // What each transport costs on its own: a request the leaderboard refuses (a bad org)
        // without asking Redis. Tally's reads cannot be faster than this.
        let floors: [(String, @Sendable (Int) throws -> Call)] = [
            ("transport alone (a 400, no Redis), HTTP", { _ in
                let connection = try HTTPConnection(port: httpPort)
                return { guard try connection.get("/v1/orgs/NOT-AN-ORG/boards/points:all:reps").status == 400 else { throw BenchError("no 400") } }
            }),
            ("transport alone (an error, no Redis), ZeroMQ", { _ in
                let socket = try Socket(.req, options: [.linger(milliseconds: 0)])
                try socket.connect(leaderboard)
                let request = Data(#"{"op":"top","org":"NOT-AN-ORG","board":"points:all:reps"}"#.utf8)
                return { try socket.send(request); _ = try socket.receive() }
            }),
        ]
        // And libzmq alone, no Tally code: a ROUTER that sends each request straight back.
        let echo = try ZMQEcho()
        defer { echo.stop() }
        let echoEndpoint = echo.endpoint
        let libzmq: (String, @Sendable (Int) throws -> Call) = (
            "libzmq alone (an echo, no Tally code), ZeroMQ", { _ in
                let socket = try Socket(.req, options: [.linger(milliseconds: 0)])
                try socket.connect(echoEndpoint)
                let request = Data(#"{"op":"top","org":"bench1m","board":"points:all:reps","limit":10}"#.utf8)
                return { try socket.send(request); _ = try socket.receive() }
            })
        kinds += floors + [libzmq]
        var measured: [String: Double] = [:]
        let metrics = try HTTPConnection(port: httpPort)
        for (name, setUp) in kinds {
            try redis.send("CONFIG", "RESETSTAT")
            let keptBefore = try keptAnswers(metrics)
            let cpuBefore = stack.cpu
            let (perSecond, latencies) = try closedLoop(threads: threads, seconds: seconds, setUp: setUp)
            measured[name] = perSecond
            var how = String(format: "%d clients; p99 %.2f ms", threads, latencies.percentile(99))
            // Where the read's time went: the leaderboard's CPU per request, and how many of its
            // board reads were answered from the answer it keeps.
            if name.contains("HTTP") || name.contains("ZeroMQ"), !name.contains("raw"), !name.contains("libzmq") {
                let process = name.contains("reads closed") ? "leaderboard-closed" : "leaderboard"
                let cpu = stack.cpu
                func used(_ process: String) -> Double {
                    let busy = ["", " (kernel)"].reduce(0.0) { $0 + (cpu[process + $1] ?? 0) - (cpuBefore[process + $1] ?? 0) }
                    return 1e6 * busy / (perSecond * seconds)
                }
                how += String(format: "; CPU per request: leaderboard %.0f µs, Redis %.0f µs", used(process), used("redis"))
                let keptAfter = try keptAnswers(metrics)
                let hits = keptAfter.hit - keptBefore.hit, misses = keptAfter.miss - keptBefore.miss
                if process == "leaderboard", hits + misses > 0 {
                    how += String(format: "; %.0f%% answered from the kept answer", 100 * hits / (hits + misses))
                }
            }
            // Redis's own time per call, for the kinds that ask it something.
            let times = try commandStats(redis)
            // (The raw kinds send no script: the contest schedulers' leases are not theirs.)
            let scripted = name.contains("raw") ? nil : times.first(where: { $0.command == "evalsha" })
            if !name.contains("alone"), let busiest = scripted ?? times.max(by: { $0.calls < $1.calls }) {
                how += String(format: "; Redis %.1f µs per %@", busiest.microseconds / Double(busiest.calls), busiest.command)
            }
            if name.hasSuffix(", a viewer token (reads closed)"), let open = measured[String(name.dropLast(", a viewer token (reads closed)".count))] {
                how += String(format: "; %.0f%% of the same read with reads open", 100 * perSecond / open)
            }
            if name.contains("raw") {
                let kind = name.hasPrefix("top") ? "top 10" : "rank of a member"
                how += String(format: "; Tally/raw: HTTP %.2f×, ZeroMQ %.2f×",
                              measured["\(kind), HTTP"]! / perSecond, measured["\(kind), ZeroMQ"]! / perSecond)
            }
            result.rows.append(("5. \(name), \(members) members", String(format: "%.0f /s", perSecond), how))
        }
        // The goal: each read at 0.8× or more of its transport's own floor, measured in this run.
        for transport in ["HTTP", "ZeroMQ"] {
            let floor = measured[floors[transport == "HTTP" ? 0 : 1].0]!
            let ratios = ["top 10", "rank of a member"].map { kind in
                String(format: "%@ %.2f×", kind, measured["\(kind), \(transport)"]! / floor)
            }
            result.rows.append((
                "5. reads against the transport alone, \(transport)", ratios.joined(separator: ", "),
                String(format: "of %.0f /s for a request answered without Redis; goal ≥ 0.8×", floor)))
        }
        return result
    }

    /// The leaderboard's board reads so far answered from a kept answer (hit) or read in full.
    private static func keptAnswers(_ connection: HTTPConnection) throws -> (hit: Double, miss: Double) {
        let text = String(decoding: try connection.get("/metrics").body, as: UTF8.self)
        func count(_ outcome: String) -> Double {
            text.split(separator: "\n").filter { $0.hasPrefix("tally_read_cache_total{") && $0.contains("outcome=\"\(outcome)\"") }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        }
        return (count("hit"), count("miss"))
    }

    private static func usedMemory(_ redis: RedisConnection) throws -> Int {
        let info = try redis.send("INFO", "memory").string ?? ""
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("used_memory:") }
        return Int(line?.dropFirst("used_memory:".count) ?? "") ?? 0
    }
}

/// The Python `leaderboard` library (scripts/bench-peer installs it in a virtualenv) applying
/// the same events to the same boards.
enum Peer {
    struct Result {
        var rate: Double
        var library: String
        var idempotency: Bool
    }

    static func run(redisURL: String, events: [ActivityEvent], directory: URL) throws -> Result {
        let file = directory.appendingPathComponent("peer-events.jsonl")
        try events.map(\.peerLine).joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let script = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("scripts/bench-peer")
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            throw BenchError("\(script.path) not found: run tally bench from the repository root (scripts/bench does)")
        }
        let output = directory.appendingPathComponent("peer.out")
        let process = try ChildProcess(script, ["--redis-url", "\(redisURL)/1", "--events", file.path], logFile: output)
        guard process.wait() == 0 else { throw BenchError("the peer failed:\n\(process.output)") }
        let line = process.output.split(separator: "\n").last { $0.hasPrefix("{") } ?? ""
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let rate = object["events_per_second"] as? Double
        else { throw BenchError("the peer printed no result:\n\(process.output)") }
        return Result(rate: rate, library: object["library"] as? String ?? "leaderboard", idempotency: object["idempotency"] as? Bool ?? false)
    }
}

/// A ROUTER on a thread of its own that sends every message straight back: what a ZeroMQ
/// request/reply round trip costs on this machine before any service does anything.
final class ZMQEcho: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let bound = Mutex<String?>(nil)

    init() throws {
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            do {
                let router = try Socket(.router, options: [.receiveTimeout(milliseconds: 100), .linger(milliseconds: 0)])
                try router.bind("tcp://127.0.0.1:*")
                bound.withLock { $0 = router.lastEndpoint }
                ready.signal()
                while !stopped.load(ordering: .relaxed) {
                    if let frames = try router.receive() { try router.send(frames) }
                }
            } catch {
                ready.signal()
            }
        }
        thread.start()
        ready.wait()
        guard bound.withLock({ $0 }) != nil else { throw BenchError("the echo socket did not start") }
    }

    var endpoint: String { bound.withLock { $0! } }

    func stop() { stopped.store(true, ordering: .relaxed) }
}
