import Foundation
@_exported import TallyLauncher
@_exported import TallyService
#if canImport(Glibc)
import Glibc
#endif

/// The real services as child processes on free loopback ports, over a real redis-server:
/// what a field app talks to. Logs go to a temporary directory, printed when a test fails.
package final class TallyStack: @unchecked Sendable {
    // `@unchecked`: one test owns a stack and drives it from one task at a time.
    /// The stack's Redis: one server, a cluster or a Sentinel deployment (`deployment`).
    package let redis: any TestRedis
    package let directory: URL
    /// Where each service listens; connection settings in its `environment`.
    package let services: LocalStack
    private let launcher: Launcher
    package private(set) var ingestion: ChildProcess?
    package private(set) var notification: ChildProcess?
    package private(set) var leaderboard: ChildProcess?
    private var notificationRuns = 0
    private var otherLeaderboards = 0
    package private(set) var workers: [ChildProcess] = []
    private let heartbeatMs: Int
    private let unavailableAfterMs: Int

    package var ingestionPort: Int { services.ingestionPort }
    package var workerPort: Int { services.workerPort }
    package var notifyPort: Int { services.notifyPort }
    /// tally-notification's XPUB (ZeroMQ displays) and HTTP (TV page, WebSocket) ports.
    package var displaysPort: Int { services.displaysPort }
    package var notificationHTTPPort: Int { services.tvPort }
    /// tally-leaderboard's HTTP port.
    package var leaderboardHTTPPort: Int { services.httpPort }

    /// `rules`: org id → YAML rules text.
    /// `durableRedis`: Redis with AOF and `appendfsync always`, as `tally up` runs it.
    /// `keys`: the front door is CURVE and the stack's own sockets take the service key, as
    /// `tally up` runs them; the tools' field key is registered for org `default`.
    /// `openReads`: leaderboard and notification let anyone read (`--open-reads`), as the tests
    /// of what reads answer assume; access tests start closed, with `adminToken` set.
    /// `deployment`: one Redis server, a three-master Redis Cluster, or a master, replica and
    /// three Sentinels.
    package init(
        rules: [String: String] = [:], heartbeatMs: Int = 250, unavailableAfterMs: Int = 2_000, durableRedis: Bool = false,
        keys: StackKeys? = nil, openReads: Bool = true, adminToken: String? = nil, deployment: RedisDeployment = .single
    ) throws {
        redis = try deployment.start(durable: durableRedis)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tally-stack-\(UUID().uuidString)")
        launcher = Launcher(logs: .files(in: directory))
        var services = LocalStack.onFreePorts(redisURL: redis.url, rules: directory.appendingPathComponent("rules").path, logLevel: "debug")
        services.keys = keys
        services.openReads = openReads
        services.adminToken = adminToken
        self.services = services
        try keys?.registerFieldKey(org: "default", redisURL: redis.url)
        self.heartbeatMs = heartbeatMs
        self.unavailableAfterMs = unavailableAfterMs
        try FileManager.default.createDirectory(at: rulesDirectory, withIntermediateDirectories: true)
        for (org, text) in rules {
            try text.write(to: rulesDirectory.appendingPathComponent("\(org).yaml"), atomically: true, encoding: .utf8)
        }
    }

    deinit {
        launcher.stopAll(within: 0)
        try? FileManager.default.removeItem(at: directory)
    }

    /// The stack's one Redis server, for the tests that stop, freeze or watch it.
    package var server: RedisServer {
        guard let server = redis as? RedisServer else { preconditionFailure("this test runs on one Redis server, not a cluster") }
        return server
    }

    /// The stack's Sentinel deployment, for the tests that kill its master.
    package var sentinel: RedisSentinel {
        guard let sentinel = redis as? RedisSentinel else { preconditionFailure("this test runs on a Sentinel deployment") }
        return sentinel
    }

    private var rulesDirectory: URL { directory.appendingPathComponent("rules") }

    /// Where field apps connect.
    package var endpoint: String { services.ingestionEndpoint }

    /// Starts tally-ingestion and waits until it answers.
    package func startIngestion(_ extra: [String] = []) throws {
        ingestion = try launcher.start(
            .ingestion, of: services,
            options: [
                "--heartbeat-ms", String(heartbeatMs), "--heartbeat-liveness", "4", "--unavailable-after-ms", String(unavailableAfterMs),
            ] + extra)
    }

    /// Starts a tally-scoring worker and waits until ingestion has seen it join.
    @discardableResult
    package func startWorker(_ extra: [String] = []) throws -> ChildProcess {
        let joinedBefore = joinedWorkers
        let worker = try launcher.start(
            .scoring, of: services, name: "scoring-\(workers.count + 1)",
            options: ["--heartbeat-ms", String(heartbeatMs), "--heartbeat-liveness", "4"] + extra)
        workers.append(worker)
        if ingestion != nil {
            try launcher.waitUntil("the worker to join", seconds: 15, answeredBy: worker) { self.joinedWorkers > joinedBefore }
        }
        return worker
    }

    /// Starts tally-notification (bound where scoring publishes) and waits until it serves HTTP.
    package func startNotification(_ options: [String] = []) throws {
        notificationRuns += 1
        notification = try launcher.start(.notification, of: services, name: "notification-\(notificationRuns)", options: options)
    }
    /// Starts tally-leaderboard and waits until it serves.
    package func startLeaderboard(_ options: [String] = []) throws {
        leaderboard = try launcher.start(.leaderboard, of: services, options: options)
    }

    /// Starts another tally-leaderboard on ports of its own, over the same Redis and
    /// notification, as an operator runs two for availability; its HTTP port with it.
    @discardableResult
    package func startAnotherLeaderboard(_ options: [String] = []) throws -> (process: ChildProcess, httpPort: Int) {
        var other = services
        other.leaderboardPort = freePort()
        other.httpPort = freePort()
        otherLeaderboards += 1
        let process = try launcher.start(.leaderboard, of: other, name: "leaderboard-\(otherLeaderboards + 1)", options: options)
        return (process, other.httpPort)
    }

    /// tally-notification, tally-ingestion and one worker: what displays watch. Notification
    /// first, so scoring's publisher connects as it starts and no notice is lost to a
    /// subscriber that is not there yet.
    package func startWithNotification() throws {
        try startNotification()
        try startIngestion()
        try startWorker()
    }

    /// Stops tally-notification with SIGTERM and waits for it to exit.
    package func stopNotification() throws {
        guard let notification else { return }
        notification.signal(SIGTERM)
        do {
            try wait("tally-notification to exit") { !notification.isRunning }
        } catch {
            throw TestSetupError("\(error)\n\(notification.output)")
        }
    }

    /// The notification service's HTTP base, `http://127.0.0.1:<port>`.
    package var notificationURL: String { "http://127.0.0.1:\(notificationHTTPPort)" }

    private var joinedWorkers: Int {
        ingestion?.output.components(separatedBy: "worker joined").count.advanced(by: -1) ?? 0
    }

    /// Every service's log, for a failing test to show.
    package var logs: String {
        launcher.processes.map { "--- \($0.name).log\n\($0.process.output)" }.joined(separator: "\n")
    }

    /// One of the executables built beside the tests (`swift build --build-tests` builds them all).
    package func binary(_ name: String) throws -> URL {
        try Executables.tally(name)
    }
}

/// Polls `condition` until it holds, or fails after `seconds`.
package func wait(_ what: String, seconds: Double = 15, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        Thread.sleep(forTimeInterval: 0.02)
    }
    throw TestSetupError("timed out after \(seconds) s waiting for \(what)")
}
