import ArgumentParser
import Dispatch
import Foundation
import Redis
import Synchronization
import TallyDomain
import TallyLauncher
import TallyService
import TallyStore
#if canImport(Glibc)
import Glibc
#endif

struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole stack on this machine: Redis, ingestion, scoring workers, leaderboard, notification.",
        discussion: """
            Starts a local redis-server (AOF on, data under --data-dir) unless --redis-url names one,
            waits until every service answers, prints where to connect, and shows every service's
            log behind its name. Ctrl-C or SIGTERM stops everything in order. A service that dies is
            reported and `tally up` stops the rest and exits 1; nothing is restarted silently.
            """)

    @Option(name: .customLong("redis-url"), help: "Use this Redis instead of starting one.") var redisUrlOption: String?
    var redisUrl: String? { redisUrlOption ?? Environment.value("redis-url") }
    @Option(help: "Port for the local redis-server.") var redisPort = Environment.int("redis-port", default: 6379)
    @Option(help: "Where the local redis-server keeps its data.") var dataDir = Environment.string("data-dir", default: "data")
    @Option(help: "How many tally-scoring workers.") var scoringWorkers = Environment.int("scoring-workers", default: 1)
    @Option(name: .customLong("admin-token"), help: "The admin token: org tokens, field keys, contests, the rep directory, in every org. Unset: one made once and kept in <data-dir>/admin-token.") var adminTokenOption: String?
    var adminToken: String? { adminTokenOption ?? Environment.value("admin-token") }
    @Option(name: .customLong("rules"), help: "Directory of per-org rules files.") var rulesOption: String?
    var rules: String? { rulesOption ?? Environment.value("rules") }
    @Option(help: "Field apps' port (ingestion).") var ingestionPort = Environment.int("ingestion-port", default: 5555)
    @Option(help: "Scoring workers' port (ingestion).") var workerPort = Environment.int("worker-port", default: 5556)
    @Option(help: "Change notices' port (notification).") var notifyPort = Environment.int("notify-port", default: 5557)
    @Option(help: "Leaderboard's ZeroMQ port.") var leaderboardPort = Environment.int("leaderboard-port", default: 5558)
    @Option(help: "Leaderboard's HTTP port.") var httpPort = Environment.int("http-port", default: 8080)
    @Option(help: "ZeroMQ displays' port (notification).") var displaysPort = Environment.int("displays-port", default: 5560)
    @Option(help: "TV page and WebSocket port (notification).") var tvPort = Environment.int("tv-port", default: 8090)
    @Flag(help: "Feed a simulated sales floor (40 reps in 5 teams) and run a demo contest; reads are open.") var demo = false

    func validate() throws {
        try Environment.validate()
        guard scoringWorkers >= 1 else { throw ValidationError("--scoring-workers must be at least 1") }
    }

    func run() throws {
        let stop = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM] {
            Glibc.signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber)
            source.setEventHandler { stop.signal() }
            source.resume()
            sources.append(source)
        }

        let launcher = Launcher(logs: .prefixed)
        func stopAll() {
            launcher.stopAll { log("stopping \($0)") }
        }

        do {
            let redisURL: String
            if let redisUrl {
                redisURL = redisUrl
                try launcher.waitUntilRedisAnswers(at: redisURL)
            } else {
                let directory = URL(fileURLWithPath: dataDir).appendingPathComponent("redis")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                let redis = RedisServerOptions(port: redisPort, directory: directory)  // AOF on, as in production
                try launcher.startRedis(redis)
                redisURL = redis.url
            }

            // Someone must be able to mint tokens and register field keys: the operator's admin
            // token, or else one kept under the data directory (the demo's contest uses it too).
            let token = try adminToken ?? keptAdminToken()
            var stack = LocalStack(
                redisURL: redisURL, interfaces: .all, ingestionPort: ingestionPort, workerPort: workerPort, notifyPort: notifyPort,
                leaderboardPort: leaderboardPort, httpPort: httpPort, displaysPort: displaysPort, tvPort: tvPort,
                rules: rules, adminToken: token)
            // Secure by default: the front door takes CURVE, the stack's own sockets the service
            // key; the keys live under the data directory, so field apps keep working across
            // restarts, and this machine's tools (send, simulate, the demo) have a field key.
            let keys = try StackKeys.loadOrCreate(in: URL(fileURLWithPath: dataDir).appendingPathComponent("keys"))
            try keys.registerFieldKey(org: "default", redisURL: redisURL)
            stack.keys = keys
            // A demo is for showing around: anyone on the network may read it. Otherwise reads
            // need a token, and the TV page's address carries a viewer token of its own.
            stack.openReads = demo
            try launcher.startServices(of: stack, scoringWorkers: scoringWorkers)
            let viewer = try tvToken(redisURL: redisURL)
            let ingestion = stack.ingestionEndpoint
            let leaderboard = stack.leaderboardEndpoint

            let demoContest = demo ? try startDemo(stack: stack, token: token) : nil
            let tvBoards = demo ? "&board=points:today:reps&board=points:today:teams&board=contest:\(demoContest!)" : "&board=points:today:reps"
            log("""
                ready
                  TV page                     http://127.0.0.1:\(tvPort)/tv?org=default\(tvBoards)&token=\(viewer)
                  field apps send events to   \(ingestion)  (CURVE, server key \(keys.frontDoor.publicKey))
                  register a field app's key  tally field-key add --org <org> --public-key <its public key> --name <name>
                  boards and contests (HTTP)  http://127.0.0.1:\(httpPort)/v1/orgs/default/boards
                  boards and contests (ZMQ)   \(leaderboard)
                  live updates (ZMQ SUB)      tcp://127.0.0.1:\(displaysPort)  (topics <org>/<board>, <org>/_events)
                  Redis                       \(redisURL)
                  admin token                 \(adminToken == nil ? "in \(keptAdminTokenFile.path) (TALLY_ADMIN_TOKEN_FILE=\(keptAdminTokenFile.path) tally token create ...)" : "as given")
                  reads                       \(demo ? "open to anyone (--demo)" : "need a token: the TV page's is a viewer token of org default")
                Ctrl-C stops everything.
                """)
        } catch {
            log("could not start: \(error)")
            stopAll()
            throw ExitCode(1)
        }

        while true {
            if stop.wait(timeout: .now() + .milliseconds(200)) == .success {
                log("stopping")
                simulator?.stop()
                stopAll()
                log("stopped")
                return
            }
            if let (name, process) = launcher.exited {
                log("\(name) exited (status \(process.wait())); stopping the rest")
                simulator?.stop()
                stopAll()
                throw ExitCode(1)
            }
        }
    }

    /// The viewer token of org `default` that the printed TV page uses: kept under the data
    /// directory (readable by its owner only) and used again while Redis still knows it, so
    /// restarts don't pile up tokens; made anew otherwise.
    private var keptAdminTokenFile: URL { URL(fileURLWithPath: dataDir).appendingPathComponent("admin-token") }

    /// The admin token kept under the data directory, made (256 random bits) on first start.
    private func keptAdminToken() throws -> String {
        let file = keptAdminTokenFile
        if let text = try? String(contentsOf: file, encoding: .utf8), !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let token = randomHex(bytes: 32)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try writeSecretFile(token, to: file)
        log("made an admin token, kept in \(file.path)")
        return token
    }

    private func tvToken(redisURL: String) throws -> String {
        let file = URL(fileURLWithPath: dataDir).appendingPathComponent("tv-token")
        let connection = try RedisConnection(url: redisURL)
        defer { connection.disconnect() }
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            let kept = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if case .member(org: "default", role: .viewer, _) = try TokenStore.caller(kept, on: connection) { return kept }
        }
        let minted = try TokenStore.create(org: "default", role: .viewer, name: "tally up TV page", on: connection)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try writeSecretFile(minted.token, to: file)
        log("made a viewer token of org default for the TV (\(minted.id), kept in \(file.path))")
        return minted.token
    }

    /// The demo's simulated floor, running on a thread of its own.
    private var simulator: Simulator? { DemoFloor.simulator.withLock { $0 } }

    /// Starts the simulated floor and the demo contest; returns the contest's id.
    private func startDemo(stack: LocalStack, token: String) throws -> String {
        let floor = Simulator(reps: 40, teams: 5, org: "default")
        DemoFloor.simulator.withLock { $0 = floor }
        let id = "demo-door-blitz-\(Int(Date().timeIntervalSince1970) % 100_000)"
        let contest: [String: Any] = [
            "id": id, "name": "Demo Door Blitz",
            "metric": "doors", "scope": "reps",
            "starts_at": try parseTime("now", option: "starts"), "ends_at": try parseTime("+30m", option: "ends"),
            "prizes": ["1st: lunch on the manager"],
        ]
        _ = try Client(endpoint: stack.leaderboardEndpoint).require(["op": "contest.create", "token": token, "contest": contest])
        let thread = Thread {
            do {
                try floor.run(ingestion: stack.ingestionEndpoint, options: stack.fieldAppOptions, rate: 8, duration: nil)
            } catch {
                FileHandle.standardError.write(Data("[demo] stopped: \(error)\n".utf8))
            }
        }
        thread.name = "demo"
        thread.start()
        log("demo: 40 simulated reps in 5 teams send about 8 activities a second; contest 'Demo Door Blitz' runs 30 minutes")
        return id
    }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data("[tally] \(message)\n".utf8))
    }
}

/// The demo floor, reachable from the signal loop. A process runs at most one `tally up`.
enum DemoFloor {
    static let simulator = Mutex<Simulator?>(nil)
}
