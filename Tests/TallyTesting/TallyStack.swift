import Foundation
@_exported import TallyService
import Redis
import ZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// The real services as child processes on free loopback ports, over a real redis-server:
/// what a field app talks to. Logs go to a temporary directory, printed when a test fails.
package final class TallyStack: @unchecked Sendable {
    // `@unchecked`: one test owns a stack and drives it from one task at a time.
    package let redis: RedisServer
    package let directory: URL
    package let ingestionPort = freePort()
    package let workerPort = freePort()
    package let notifyPort = freePort()
    /// tally-notification's XPUB (ZeroMQ displays) and HTTP (TV page, WebSocket) ports.
    package let displaysPort = freePort()
    package let notificationHTTPPort = freePort()
    package private(set) var ingestion: ChildProcess?
    package private(set) var notification: ChildProcess?
    private var notificationRuns = 0
    package private(set) var workers: [ChildProcess] = []
    private let heartbeatMs: Int
    private let unavailableAfterMs: Int

    /// `rules`: org id → YAML rules text.
    package init(rules: [String: String] = [:], heartbeatMs: Int = 250, unavailableAfterMs: Int = 2_000) throws {
        redis = try RedisServer()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tally-stack-\(UUID().uuidString)")
        self.heartbeatMs = heartbeatMs
        self.unavailableAfterMs = unavailableAfterMs
        try FileManager.default.createDirectory(at: rulesDirectory, withIntermediateDirectories: true)
        for (org, text) in rules {
            try text.write(to: rulesDirectory.appendingPathComponent("\(org).yaml"), atomically: true, encoding: .utf8)
        }
    }

    deinit {
        ingestion?.signal(SIGKILL)
        notification?.signal(SIGKILL)
        for worker in workers { worker.signal(SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }

    private var rulesDirectory: URL { directory.appendingPathComponent("rules") }

    /// Where field apps connect.
    package var endpoint: String { "tcp://127.0.0.1:\(ingestionPort)" }

    /// Starts tally-ingestion and waits until it listens.
    package func startIngestion() throws {
        ingestion = try ChildProcess(
            try binary("tally-ingestion"),
            [
                "--frontend", "tcp://127.0.0.1:\(ingestionPort)", "--backend", "tcp://127.0.0.1:\(workerPort)",
                "--heartbeat-ms", String(heartbeatMs), "--heartbeat-liveness", "4",
                "--unavailable-after-ms", String(unavailableAfterMs), "--log-level", "debug",
            ],
            logFile: directory.appendingPathComponent("ingestion.log"))
        try wait("tally-ingestion to listen") { isListening(port: self.ingestionPort) }
    }

    /// Starts a tally-scoring worker and waits until ingestion has seen it join.
    @discardableResult
    package func startWorker() throws -> ChildProcess {
        let joinedBefore = joinedWorkers
        let worker = try ChildProcess(
            try binary("tally-scoring"),
            [
                "--ingestion", "tcp://127.0.0.1:\(workerPort)", "--notify", "tcp://127.0.0.1:\(notifyPort)",
                "--redis-url", redis.url, "--rules", rulesDirectory.path,
                "--heartbeat-ms", String(heartbeatMs), "--heartbeat-liveness", "4", "--log-level", "debug",
            ],
            logFile: directory.appendingPathComponent("scoring-\(workers.count + 1).log"))
        workers.append(worker)
        if ingestion != nil {
            try wait("the worker to join") { self.joinedWorkers > joinedBefore || !worker.isRunning }
            guard worker.isRunning else { throw TestSetupError("tally-scoring exited:\n\(worker.output)") }
        }
        return worker
    }

    /// Starts tally-notification (bound where scoring publishes) and waits until it serves HTTP.
    package func startNotification(_ options: [String] = []) throws {
        notificationRuns += 1
        let process = try ChildProcess(
            try binary("tally-notification"),
            [
                "--changes", "tcp://127.0.0.1:\(notifyPort)", "--displays", "tcp://127.0.0.1:\(displaysPort)",
                "--http-host", "127.0.0.1", "--http-port", String(notificationHTTPPort),
                "--redis-url", redis.url, "--rules", rulesDirectory.path, "--log-level", "debug",
            ] + options,
            logFile: directory.appendingPathComponent("notification-\(notificationRuns).log"))
        notification = process
        try wait("tally-notification to listen") { isListening(port: self.notificationHTTPPort) || !process.isRunning }
        guard process.isRunning else { throw TestSetupError("tally-notification exited:\n\(process.output)") }
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
        ([ingestion, notification].compactMap { $0 } + workers).map { "--- \($0.logFile?.lastPathComponent ?? "")\n\($0.output)" }
            .joined(separator: "\n")
    }

    /// The directory the test binaries and the service executables are built into.
    package func binary(_ name: String) throws -> URL {
        var directory = Executables.ownDirectory
        // swift test runs `<build>/debug/tallyPackageTests.xctest`; the executables sit beside it.
        if directory.lastPathComponent.hasSuffix(".xctest") { directory = directory.deletingLastPathComponent() }
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw TestSetupError("\(url.path) is not built; run `swift build --build-tests` first (scripts/test does)")
        }
        return url
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
