import Foundation
import Redis
import TallyService
#if canImport(Glibc)
import Glibc
#endif

/// The whole stack for a benchmark, on free loopback ports, logs in a scratch directory.
final class BenchStack {
    let directory: URL
    let redisPort = freePort()
    let ingestionPort = freePort()
    let workerPort = freePort()
    let notifyPort = freePort()
    let leaderboardPort = freePort()
    let httpPort = freePort()
    let displaysPort = freePort()
    let tvPort = freePort()
    private(set) var processes: [(name: String, process: ChildProcess)] = []

    var redisURL: String { "redis://127.0.0.1:\(redisPort)" }
    var ingestion: String { "tcp://127.0.0.1:\(ingestionPort)" }
    var leaderboard: String { "tcp://127.0.0.1:\(leaderboardPort)" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tally-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        guard let redisServer = Executables.onPath("redis-server") else { throw BenchError("redis-server is not installed; run scripts/setup") }
        // As in production: AOF on, fsync every second.
        try start("redis", redisServer, [
            "--port", String(redisPort), "--bind", "127.0.0.1", "--dir", directory.path, "--appendonly", "yes",
            "--save", "", "--daemonize", "no", "--loglevel", "warning",
        ])
        try waitFor("redis") { (try? RedisConnection(url: self.redisURL).send("PING")) == .status("PONG") }
        try start("notification", tally("tally-notification"), [
            "--changes", "tcp://127.0.0.1:\(notifyPort)", "--displays", "tcp://127.0.0.1:\(displaysPort)",
            "--http-host", "127.0.0.1", "--http-port", String(tvPort), "--redis-url", redisURL, "--log-level", "warning",
        ])
        try waitFor("tally-notification") { isListening(port: self.tvPort) }
        try start("ingestion", tally("tally-ingestion"), [
            "--frontend", "tcp://127.0.0.1:\(ingestionPort)", "--backend", "tcp://127.0.0.1:\(workerPort)", "--log-level", "warning",
        ])
        try waitFor("tally-ingestion") { isListening(port: self.ingestionPort) }
        try start("leaderboard", tally("tally-leaderboard"), [
            "--zmq", "tcp://127.0.0.1:\(leaderboardPort)", "--http-host", "127.0.0.1", "--http-port", String(httpPort),
            "--redis-url", redisURL, "--notify", "tcp://127.0.0.1:\(notifyPort)", "--log-level", "warning",
        ])
        try waitFor("tally-leaderboard") { isListening(port: self.httpPort) }
    }

    deinit {
        for (_, process) in processes.reversed() { _ = process.stop(within: 5) }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs exactly `count` scoring workers.
    func scoringWorkers(_ count: Int) throws {
        let running = processes.filter { $0.name.hasPrefix("scoring") }
        for (_, process) in running { _ = process.stop(within: 10) }
        processes.removeAll { $0.name.hasPrefix("scoring") }
        for index in 1...count {
            try start("scoring-\(index)", tally("tally-scoring"), [
                "--ingestion", "tcp://127.0.0.1:\(workerPort)", "--notify", "tcp://127.0.0.1:\(notifyPort)",
                "--redis-url", redisURL, "--log-level", "warning",
            ])
        }
        Thread.sleep(forTimeInterval: 1)  // the workers join ingestion
    }

    /// Each service's resident memory now, in MiB.
    var memory: [(name: String, megabytes: Double)] {
        processes.compactMap { name, process in residentMegabytes(pid: process.pid).map { (name, $0) } }
    }

    /// Stops the benchmark if a service died, with its log.
    func checkAlive() throws {
        if let (name, process) = processes.first(where: { !$0.process.isRunning }) {
            throw BenchError("\(name) exited:\n\(process.output)")
        }
    }

    private func tally(_ name: String) -> URL { Executables.ownDirectory.appendingPathComponent(name) }

    private func start(_ name: String, _ executable: URL, _ arguments: [String]) throws {
        let process = try ChildProcess(
            executable, arguments, logFile: directory.appendingPathComponent("\(name).log"))
        processes.append((name, process))
    }

    private func waitFor(_ what: String, _ ready: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(20)
        while !ready() {
            guard Date() < deadline else { throw BenchError("\(what) did not start") }
            try checkAlive()
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
}
