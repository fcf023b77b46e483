import Foundation
@_exported import TallyService
import Redis

/// A real `redis-server` from PATH on a free loopback port, with its own temporary directory.
/// It stops when `stop()` is called or the value is released.
package final class RedisServer: @unchecked Sendable {
    // `@unchecked`: the process handle is only replaced inside `start`/`stop`, which tests call
    // from one task at a time.
    package let port: Int
    package let password: String?
    package let directory: URL
    private var process: ChildProcess?

    package init(password: String? = nil) throws {
        self.port = freePort()
        self.password = password
        self.directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tally-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    package var url: String {
        if let password { return "redis://:\(password)@127.0.0.1:\(port)" }
        return "redis://127.0.0.1:\(port)"
    }

    package var configuration: RedisConfiguration {
        RedisConfiguration(host: "127.0.0.1", port: port, password: password)
    }

    /// Starts the server and waits until it answers PING.
    package func start() throws {
        guard process == nil else { return }
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path,
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
        ]
        if let password { arguments += ["--requirepass", password] }
        process = try ChildProcess(
            try executable("redis-server"), arguments,
            logFile: directory.appendingPathComponent("redis.log"))
        try waitUntilReady()
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    package func stop() {
        guard let process else { return }
        process.signal(SIGTERM)
        process.wait()
        self.process = nil
    }

    package func restart() throws {
        stop()
        try start()
    }

    /// A new connection to this server.
    package func connection() -> RedisConnection {
        RedisConnection(configuration)
    }

    private func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(10)
        let probe = connection()
        while Date() < deadline {
            if (try? probe.send("PING")) == .status("PONG") { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw TestSetupError("redis-server on port \(port) did not answer PING within 10 s")
    }
}

/// A test could not set up what it needs.
package struct TestSetupError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// The full path of a program on PATH.
package func executable(_ name: String) throws -> URL {
    guard let url = Executables.onPath(name) else { throw TestSetupError("\(name) is not on PATH; run scripts/setup") }
    return url
}
