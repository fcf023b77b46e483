import Foundation
@_exported import TallyLauncher
@_exported import TallyService
import Redis

/// A real `redis-server` from PATH on a free loopback port, with its own temporary directory.
/// It stops when `stop()` is called or the value is released.
package final class RedisServer: @unchecked Sendable {
    // `@unchecked`: the launcher's process changes only inside `start`/`stop`, which tests call
    // from one task at a time.
    package let port: Int
    package let password: String?
    package let directory: URL
    /// The port of the master this server replicates, for a replica.
    package let replicaOf: Int?
    /// AOF on with `appendfsync always`, as `tally up` runs it: what survives a SIGKILL.
    package let durable: Bool
    private let launcher: Launcher

    package init(password: String? = nil, replicaOf master: RedisServer? = nil, durable: Bool = false) throws {
        self.port = freePort()
        self.password = password
        self.replicaOf = master?.port
        self.durable = durable
        self.directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tally-redis-\(UUID().uuidString)")
        self.launcher = Launcher(logs: .files(in: directory))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Without AOF unless `durable`: most tests need no durability across a crash, and fsyncs
    /// would slow them.
    private var options: RedisServerOptions {
        var options = RedisServerOptions(port: port, directory: directory, appendOnly: durable, password: password)
        options.replicaOf = replicaOf
        return options
    }

    package var url: String { options.url }

    package var configuration: RedisConfiguration {
        RedisConfiguration(host: "127.0.0.1", port: port, password: password)
    }

    /// Starts the server and waits until it answers PING.
    package func start() throws {
        guard launcher.processes.isEmpty else { return }
        try launcher.startRedis(options)
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    package func stop() {
        launcher.stopAll()
    }

    /// Sends the server a signal: SIGSTOP to freeze it, SIGCONT to let it go on.
    package func signal(_ signal: Int32) {
        for process in launcher.processes { process.process.signal(signal) }
    }

    package func restart() throws {
        stop()
        try start()
    }

    /// A new connection to this server.
    package func connection() -> RedisConnection {
        RedisConnection(configuration)
    }
}

/// A test could not set up what it needs.
package struct TestSetupError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
