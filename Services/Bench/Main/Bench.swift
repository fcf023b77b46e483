import ArgumentParser
import Foundation
import Redis
import TallyDomain
import TallyLauncher
import ZeroMQ

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-bench",
        abstract: "Measure Tally against the Redis ceiling and the Python `leaderboard` library, in one run.",
        discussion: """
            Starts its own redis-server and services on loopback (build with -c release first:
            scripts/bench does both) and prints a Markdown table: ingestion throughput with 1 and
            2 scoring workers, and with the activity log on and off; the same board updates as one
            Lua script per event straight to Redis;
            ack and event-to-display latency at half the best rate; queries on a 1,000,000-member
            board through HTTP and ZeroMQ and raw; memory; the Python peer (--peer); CURVE (8);
            and three orgs on one Redis beside a three-master Redis Cluster (9).
            """)

    @Option(help: "Reps on the floor.") var reps = 10_000
    @Option(help: "Teams.") var teams = 50
    @Option(help: "Events per throughput run.") var events = 100_000
    @Option(help: "Field-app clients (DEALER sockets).") var clients = 4
    @Option(help: "Requests each client keeps in flight.") var inFlight = 64
    @Option(help: "Members on the query board.") var members = 1_000_000
    @Option(help: "WebSocket displays for the latency run.") var displays = 100
    @Option(help: "Seconds of each timed run (half-rate latency, each query kind).") var seconds = 10.0
    @Option(help: "Rounds of each side in the scenarios that measure two sides taking turns (1, 8, 10).") var rounds = 3
    @Option(help: "Events the Python peer applies (0: skip it). It runs from scripts/bench-peer.") var peerEvents = 20_000
    @Flag(help: "A quick smoke run with small counts (CI).") var quick = false
    @Option(help: "Only these scenarios, e.g. 1,2 or 5 (3 and 4 run together; ratios need 1).") var only: String?
    @Option(help: "Instead of the scenarios: a soak of this many minutes (tally simulate at --soak-rate, --displays watching, memory sampled each minute).")
    var soak: Int?
    @Option(help: "Events a second during the soak.") var soakRate = 200.0

    private func selected(_ scenario: Int) -> Bool {
        guard let only else { return true }
        return only.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.contains(scenario)
    }

    mutating func run() throws {
        if quick {
            (events, members, displays, seconds, peerEvents) = (2_000, 20_000, 10, 1, 0)
            reps = min(reps, 1_000)
        }
        let report = Report()
        report.line("Tally benchmark · \(reps) reps in \(teams) teams · \(ProcessInfo.processInfo.activeProcessorCount) cores · \(Date().formatted(.iso8601))")
        if let soak {
            let samples = try Soak.run(stack: try BenchStack(), minutes: soak, rate: soakRate, reps: reps, displays: displays)
            FileHandle.standardOutput.write(Data((report.header + "\n\n" + Soak.table(samples, warmUp: min(5, soak / 3))).utf8))
            return
        }
        let run = Run(bench: self, stack: try BenchStack(), report: report)
        if selected(1) || selected(7) { try run.throughput(workerCounts: selected(1) ? [1, 2] : [1]) }
        if selected(1) { try run.activityLogCost() }
        let memoryUnderLoad = run.stack.memory
        if selected(2) { try run.ceiling() }
        if selected(3) || selected(4) { try run.halfRate() }
        if selected(5) || selected(6) { try run.queries(memoryUnderLoad: memoryUnderLoad) }
        if selected(7) && peerEvents > 0 { try run.peer() }
        if selected(8) { try run.curve() }
        if selected(9) { try run.shards() }
        if selected(10) { try run.quotaCost() }
        report.print()
    }

    /// One benchmark run: its stack, and the figures later scenarios compare with.
    private final class Run {
        let bench: Bench
        let stack: BenchStack
        let report: Report
        let floor: BenchFloor
        let now = Timestamp.now()
        /// Events a second end to end, by number of workers.
        var perSecond: [Int: Double] = [:]
        var firstRun: [ActivityEvent] = []

        init(bench: Bench, stack: BenchStack, report: Report) {
            self.bench = bench
            self.stack = stack
            self.report = report
            self.floor = BenchFloor(reps: bench.reps, teams: bench.teams)
        }

        /// 1. Events a second accepted and committed, field app to Redis and back.
        func throughput(workerCounts: [Int]) throws {
            for workers in workerCounts {
                try stack.scoringWorkers(workers)
                let batch = floor.events(bench.events, org: "bench", prefix: "w\(workers)", at: now)
                if workers == 1 { firstRun = batch }
                // A warm-up, then the run.
                let warmUp = floor.events(min(2_000, bench.events), org: "bench", prefix: "warm\(workers)", at: now)
                _ = try saturate(stack.ingestion, requests: warmUp.map(\.request), clients: bench.clients, inFlight: bench.inFlight)
                let redis = try RedisConnection(url: stack.redisURL)
                try redis.send("CONFIG", "RESETSTAT")
                let result = try saturate(stack.ingestion, requests: batch.map(\.request), clients: bench.clients, inFlight: bench.inFlight)
                let redisPerEvent = try scriptMicroseconds(redis) / Double(bench.events)
                try stack.checkAlive()
                guard result.accepted == bench.events else {
                    throw BenchError("\(result.accepted) of \(bench.events) accepted, \(result.other) not")
                }
                perSecond[workers] = Double(bench.events) / result.seconds
                report.row(
                    "1. ingestion → scoring → Redis, \(workers) worker\(workers == 1 ? "" : "s")", String(format: "%.0f events/s", perSecond[workers]!),
                    "\(bench.clients) DEALER clients × \(bench.inFlight) one-event requests in flight; ack \(result.latencies.summary); "
                        + String(format: "Redis %.0f µs per event (%.0f%% busy)", redisPerEvent, redisPerEvent * perSecond[workers]! / 10_000))
            }
        }

        /// 9. One load spread over three orgs, on this stack's one Redis and on a stack over a
        /// three-master Redis Cluster where each org has a shard of its own; two workers each.
        func shards() throws {
            let orgs = Self.orgsOnThreeShards()
            var oneRedis = Double.nan
            for shards in [1, 3] {
                let stack = shards == 1 ? self.stack : try BenchStack(shards: 3)
                try stack.scoringWorkers(2)
                // Interleaved, so that every job spans the three orgs, as a host's field apps would.
                func load(_ count: Int, _ prefix: String) -> [Data] {
                    let perOrg = orgs.map { floor.events(count / orgs.count, org: $0, prefix: "\(prefix)\(shards)", at: now) }
                    return (0..<count / orgs.count).flatMap { index in perOrg.map { $0[index].request } }
                }
                _ = try saturate(stack.ingestion, requests: load(min(3_000, bench.events), "warm-shards"), clients: bench.clients, inFlight: bench.inFlight)
                let requests = load(bench.events, "shards")
                let result = try saturate(stack.ingestion, requests: requests, clients: bench.clients, inFlight: bench.inFlight)
                try stack.checkAlive()
                guard result.accepted == requests.count else {
                    throw BenchError("\(result.accepted) of \(requests.count) accepted, \(result.other) not")
                }
                let perSecond = Double(requests.count) / result.seconds
                if shards == 1 { oneRedis = perSecond }
                report.row(
                    shards == 1 ? "9. three orgs, one Redis, 2 workers" : "9. three orgs, a three-master cluster (an org a shard), 2 workers",
                    String(format: "%.0f events/s", perSecond),
                    "\(bench.clients) DEALER clients × \(bench.inFlight) one-event requests in flight; every Redis fsyncs before each reply; ack \(result.latencies.summary)"
                        + (shards == 1 ? "" : String(format: "; %.2f× one Redis", perSecond / oneRedis)))
            }
        }

        /// Three org ids whose hash tags fall in the three ranges of slots that
        /// `redis-cli --cluster create` deals to three masters (0–5460, 5461–10922, 10923–16383).
        static func orgsOnThreeShards() -> [String] {
            func shard(_ org: String) -> Int {
                let slot = HashSlot.of(bytes: Array(org.utf8))
                return slot <= 5_460 ? 0 : slot <= 10_922 ? 1 : 2
            }
            return (0..<3).map { wanted in (0...).lazy.map { "shard\(wanted)-\($0)" }.first { shard($0) == wanted }! }
        }

        /// 1. What the activity log costs: one worker, the same kind of load to an org with the
        /// default rules (the log kept 90 days) and to one whose rules have `log_days: 0`, in
        /// rounds taking turns (`Turns`). The medians are reported, and the median of the
        /// pairs' ratios.
        func activityLogCost() throws {
            try stack.scoringWorkers(1)
            let orgs = ["bench-log", BenchStack.noLogOrg]
            for org in orgs {
                let warmUp = floor.events(min(2_000, bench.events), org: org, prefix: "lwarm", at: now)
                _ = try saturate(stack.ingestion, requests: warmUp.map(\.request), clients: bench.clients, inFlight: bench.inFlight)
            }
            let redis = try RedisConnection(url: stack.redisURL)
            let rounds = bench.rounds
            var redisPerEvent: [[Double]] = [[], []]
            var latencies = [Latencies(), Latencies()]
            // Where the log's Redis time goes (commands inside scripts count in commandstats too).
            var logCommands: [String: Double] = [:]
            var scriptCalls = [0, 0]
            // CPU µs per event of each process (Redis, ingestion, the worker), summed over the rounds.
            var cpuPerEvent: [[String: Double]] = [[:], [:]]
            let turns = try Turns(rounds: rounds, settle: [redis]) { index, round in
                let events = floor.events(bench.events, org: orgs[index], prefix: "log\(round)", at: now)
                try redis.send("CONFIG", "RESETSTAT")
                let cpuBefore = stack.cpu
                let result = try saturate(stack.ingestion, requests: events.map(\.request), clients: bench.clients, inFlight: bench.inFlight)
                for (name, seconds) in stack.cpu {
                    cpuPerEvent[index][name, default: 0] += (seconds - (cpuBefore[name] ?? seconds)) * 1e6 / Double(rounds * bench.events)
                }
                let stats = try commandStats(redis)
                redisPerEvent[index].append((stats.first { $0.command == "evalsha" }?.microseconds ?? 0) / Double(bench.events))
                scriptCalls[index] += stats.first { $0.command == "evalsha" }?.calls ?? 0
                if index == 0 {
                    for stat in stats where ["xadd", "xrevrange", "xtrim"].contains(stat.command) {
                        logCommands[stat.command, default: 0] += stat.microseconds / Double(rounds * bench.events)
                    }
                }
                try stack.checkAlive()
                guard result.accepted == bench.events else { throw BenchError("\(result.accepted) of \(bench.events) accepted, \(result.other) not") }
                latencies[index].add(contentsOf: result.latencies)
                return Double(bench.events) / result.seconds
            }
            // All the processes' CPU per event, on one side and the other: on these 2 shared cores
            // the steadier figure for what the log costs, when the rates move with other load.
            let cpuTotal = cpuPerEvent.map { $0.values.reduce(0, +) }
            for index in [1, 0] {
                report.row(
                    index == 1 ? "1. … the activity log off (`log_days: 0`), 1 worker" : "1. … the activity log on (the default, 90 days), 1 worker",
                    String(format: "%.0f events/s", turns.median(index)),
                    turns.rounds(index)
                        + String(format: "; Redis %.0f µs per event, %.0f events per script call; ack ",
                                 Turns.median(redisPerEvent[index]), Double(rounds * bench.events) / Double(max(1, scriptCalls[index])))
                        + latencies[index].summary
                        + "; CPU µs per event: " + cpuPerEvent[index].filter { $0.value >= 0.5 }.sorted { $0.key < $1.key }
                            .map { $0.key + String(format: " %.0f", $0.value) }.joined(separator: ", ")
                        + (index == 1 ? "" : String(format: "; of Redis's time per event XADD %.1f µs, XREVRANGE %.1f, XTRIM %.1f",
                                                    logCommands["xadd"] ?? 0, logCommands["xrevrange"] ?? 0, logCommands["xtrim"] ?? 0)
                            + "; on/off by round " + turns.byRound
                            + String(format: ": the log costs %.1f%% of throughput", (1 - turns.ratio) * 100)
                            + String(format: "; all processes' CPU per event %.0f µs off, %.0f on (%+.1f%%)",
                                     cpuTotal[1], cpuTotal[0], (cpuTotal[0] / cpuTotal[1] - 1) * 100)))
            }
        }

        /// 10. What quotas cost: the floor's reps, in one org every one of them with quotas on
        /// revenue and points this month and deals this quarter (the attainment boards kept
        /// live), in the other none; one worker, rounds taking turns as in 1. The medians and
        /// the median of the pairs' ratios.
        func quotaCost() throws {
            try stack.scoringWorkers(1)
            let orgs = ["bench-quotas", "bench-noquotas"]
            // The quotas, 10,000 to a put, through the leaderboard as an organizer's import would.
            let quotas = (0..<bench.reps).flatMap { rep in
                [("revenue", "month", 50_000.0), ("points", "month", 400.0), ("deals", "quarter", 6.0)].map { metric, window, target in
                    ["metric": metric, "window": window, "scope": "reps", "member": "rep-\(rep)", "target": target] as [String: Any]
                }
            }
            let socket = try Socket(.req, options: [.linger(milliseconds: 0), .receiveTimeout(milliseconds: 60_000)])
            try socket.connect(stack.leaderboard)
            for start in stride(from: 0, to: quotas.count, by: 10_000) {
                let put: [String: Any] = ["op": "quota.put", "org": orgs[0], "token": stack.adminToken, "quotas": Array(quotas[start..<min(quotas.count, start + 10_000)])]
                try socket.send(try JSONSerialization.data(withJSONObject: put))
                let reply = try socket.receive().flatMap { try JSONSerialization.jsonObject(with: $0[0]) as? [String: Any] }
                guard reply?["saved"] as? Int != nil else { throw BenchError("quota.put: \(String(describing: reply))") }
            }
            for org in orgs {
                let warmUp = floor.events(min(2_000, bench.events), org: org, prefix: "qwarm", at: now)
                _ = try saturate(stack.ingestion, requests: warmUp.map(\.request), clients: bench.clients, inFlight: bench.inFlight)
            }
            let redis = try RedisConnection(url: stack.redisURL)
            var redisPerEvent: [[Double]] = [[], []]
            var latencies = [Latencies(), Latencies()]
            let turns = try Turns(rounds: bench.rounds, settle: [redis]) { index, round in
                let events = floor.events(bench.events, org: orgs[index], prefix: "quota\(round)", at: now)
                try redis.send("CONFIG", "RESETSTAT")
                let result = try saturate(stack.ingestion, requests: events.map(\.request), clients: bench.clients, inFlight: bench.inFlight)
                redisPerEvent[index].append(try scriptMicroseconds(redis) / Double(bench.events))
                try stack.checkAlive()
                guard result.accepted == bench.events else { throw BenchError("\(result.accepted) of \(bench.events) accepted, \(result.other) not") }
                latencies[index].add(contentsOf: result.latencies)
                return Double(bench.events) / result.seconds
            }
            for index in [1, 0] {
                report.row(
                    index == 1 ? "10. \(bench.reps) reps, no quotas, 1 worker" : "10. \(bench.reps) reps each with 3 quotas (attainment kept live), 1 worker",
                    String(format: "%.0f events/s", turns.median(index)),
                    turns.rounds(index)
                        + String(format: "; Redis %.0f µs per event in scripts; ack ", Turns.median(redisPerEvent[index])) + latencies[index].summary
                        + (index == 1 ? "" : "; quotas/none by round " + turns.byRound
                            + String(format: ": quotas cost %.1f%% of throughput", (1 - turns.ratio) * 100)))
            }
        }

        /// 2. The same board updates, one script call per event, straight to Redis: with the
        /// order indexes Tally keeps (the like-for-like ceiling), and without them.
        func ceiling() throws {
            let redis = try RedisConnection(url: stack.redisURL)
            let events = floor.events(bench.events, org: "ceiling", prefix: "c", at: now)
            for orderIndex in [true, false] {
                try redis.send("CONFIG", "RESETSTAT")
                let ceiling = try Ceiling.run(redisURL: stack.redisURL, events: events, orderIndex: orderIndex)
                let redisPerEvent = try scriptMicroseconds(redis) / Double(events.count)
                report.row(
                    orderIndex ? "2. Redis ceiling: one Lua call per event, pipelined" : "2. … without the order indexes (the boards alone)",
                    String(format: "%.0f events/s", ceiling),
                    String(format: "Tally/ceiling: 1 worker %.2f×, 2 workers %.2f×; Redis %.0f µs per event",
                           (perSecond[1] ?? .nan) / ceiling, (perSecond[2] ?? .nan) / ceiling, redisPerEvent))
            }
        }

        /// 3 and 4. At half the best rate: ack latency, and event-to-display latency for
        /// `displays` WebSocket displays.
        func halfRate() throws {
            if perSecond.isEmpty { try stack.scoringWorkers(2) }
            let half = (perSecond.values.max() ?? 4_000) / 2
            let probe = DisplayProbe(base: 1_000_000)
            let today = LocalDate(milliseconds: now, in: TimeZone(identifier: "UTC")!).label
            _ = try RedisConnection(url: stack.redisURL).send("ZADD", "{benchlive}:board:points:today:reps:\(today)", "1000000", "probe")
            try probe.connect(url: "ws://127.0.0.1:\(stack.tvPort)/v1/stream?org=benchlive&board=points:today:reps", count: bench.displays)
            let requests = floor.events(Int(half * bench.seconds), org: "bench", prefix: "half", at: now).map(\.request)
            let (endpoint, seconds, probeRate) = (stack.ingestion, bench.seconds, 20.0)
            let phase = onThreads(2) { index -> Result<LoadResult, any Error> in
                Result {
                    if index == 0 { return try drive(endpoint, requests, inFlight: .max, rate: half) }
                    try probe.probe(ingestion: endpoint, org: "benchlive", rate: probeRate, seconds: seconds)
                    return LoadResult()
                }
            }
            let acks = try phase[0].get()
            _ = try phase[1].get()
            let display = probe.finish()
            report.row("3. ack latency at half rate (\(Int(half)) events/s)", acks.latencies.summary, "open loop, one DEALER client, one event per request")
            report.row(
                "4. event → WebSocket update, \(bench.displays) displays, half rate",
                String(format: "p50 %.0f ms · p99 %.0f ms", display.percentile(50), display.percentile(99)),
                "\(display.values.count) deliveries of \(Int(probeRate * seconds)) probe events; updates coalesced to ≤ 4/s per board")
        }

        /// 5 and 6. Queries on a board of `members` members; memory.
        func queries(memoryUnderLoad: [(name: String, megabytes: Double)]) throws {
            let queries = try Queries.run(stack: stack, members: bench.members, seconds: bench.seconds)
            for line in queries.rows { report.row(line.0, line.1, line.2) }
            report.row(
                "6. Redis memory per member per board", String(format: "%.0f bytes", queries.bytesPerMember),
                "used_memory before and after adding \(bench.members) members to one sorted set; "
                    + String(format: "%.0f bytes with its reached sequence and order index entry", queries.bytesPerMemberAll))
            for (name, megabytes) in memoryUnderLoad where !name.hasPrefix("redis") {
                report.row("6. RSS of \(name) after the throughput runs", String(format: "%.0f MiB", megabytes), "")
            }
        }

        /// 8. The front door with CURVE beside plain text: a stack of each, one worker, the
        /// same events, in rounds taking turns (`Turns`). The medians are reported, and the
        /// median of the pairs' ratios.
        func curve() throws {
            let stacks = [try BenchStack(keys: nil), try BenchStack(keys: try StackKeys.generate())]
            var latencies = [Latencies(), Latencies()]
            for stack in stacks {
                try stack.scoringWorkers(1)
                let warmUp = floor.events(min(2_000, bench.events), org: "bench", prefix: "cwarm", at: now)
                _ = try saturate(stack.ingestion, requests: warmUp.map(\.request), clients: bench.clients, inFlight: bench.inFlight, options: stack.services.fieldAppOptions)
            }
            let settle = try stacks.map { try RedisConnection(url: $0.redisURL) }
            // Side 0 CURVE, side 1 plain text, so that the ratio is CURVE's over plain's.
            let turns = try Turns(rounds: bench.rounds, settle: settle) { side, round in
                let index = 1 - side
                let stack = stacks[index]
                let events = floor.events(bench.events, org: "bench", prefix: "curve\(round)-", at: now)
                let result = try saturate(
                    stack.ingestion, requests: events.map(\.request), clients: bench.clients, inFlight: bench.inFlight,
                    options: stack.services.fieldAppOptions)
                try stack.checkAlive()
                guard result.accepted == bench.events else { throw BenchError("\(result.accepted) of \(bench.events) accepted, \(result.other) not") }
                latencies[index].add(contentsOf: result.latencies)
                return Double(bench.events) / result.seconds
            }
            for index in 0..<2 {
                report.row(
                    index == 0 ? "8. front door in plain text, 1 worker" : "8. front door with CURVE (registered field keys), 1 worker",
                    String(format: "%.0f events/s", turns.median(1 - index)),
                    turns.rounds(1 - index)
                        + "; a stack of its own; \(bench.clients) DEALER clients × \(bench.inFlight) in flight; ack \(latencies[index].summary)"
                        + (index == 0 ? "" : "; CURVE/plain by round " + turns.byRound
                            + String(format: ": CURVE costs %.1f%% of throughput", (1 - turns.ratio) * 100)))
            }
        }

        /// 7. The Python `leaderboard` library on the same events.
        func peer() throws {
            let peer = try Peer.run(redisURL: stack.redisURL, events: Array(firstRun.prefix(bench.peerEvents)), directory: stack.directory)
            report.row(
                "7. Python `leaderboard` (\(peer.library)), same boards", String(format: "%.0f events/s", peer.rate),
                String(format: "Tally 1 worker / peer %.1f×, 2 workers %.1f×; %d events, idempotency %@",
                       (perSecond[1] ?? .nan) / peer.rate, (perSecond[2] ?? .nan) / peer.rate, bench.peerEvents, peer.idempotency ? "yes" : "no"))
        }
    }
}

/// The benchmark's table, printed at the end.
final class Report {
    private var lines: [String] = []
    private var rows: [(String, String, String)] = []
    func line(_ text: String) { lines.append(text) }
    var header: String { lines.joined(separator: "\n") }
    func row(_ what: String, _ figure: String, _ how: String) {
        rows.append((what, figure, how))
        FileHandle.standardError.write(Data("[bench] \(what): \(figure)\(how.isEmpty ? "" : " (\(how))")\n".utf8))
    }
    func print() {
        var out = lines.joined(separator: "\n") + "\n\n| scenario | figure | how |\n|---|---|---|\n"
        for (what, figure, how) in rows { out += "| \(what) | \(figure) | \(how) |\n" }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
