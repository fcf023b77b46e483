import Foundation
import Redis

/// What a test's Redis is, one server, a cluster or a Sentinel deployment: where services
/// reach it and how a test reads it back.
package protocol TestRedis: AnyObject, Sendable {
    /// The `--redis-url` services are given.
    var url: String { get }
    var configuration: RedisConfiguration { get }
    /// A new connection (on a cluster, one that follows its slots; with Sentinel, its master).
    func connection() -> RedisConnection
}

extension RedisServer: TestRedis {}
extension RedisSentinel: TestRedis {}

/// The Redis deployments the stack's tests run on: one suite, each test once per deployment.
package enum RedisDeployment: String, CaseIterable, Sendable, CustomStringConvertible {
    case single
    case cluster
    /// A master, a replica and three Sentinels.
    case sentinel

    package var description: String { rawValue }

    /// Starts this deployment, stopped when the value is released.
    package func start(durable: Bool = false) throws -> any TestRedis {
        switch self {
        case .single: try RedisServer(durable: durable)
        case .cluster: try RedisCluster(durable: durable)
        case .sentinel: try RedisSentinel(durable: durable)
        }
    }
}

/// A real Redis Cluster of three masters (no replicas), each a `redis-server` from PATH on a
/// free loopback port, with its own temporary directory. It stops when `stop()` is called or
/// the value is released.
package final class RedisCluster: TestRedis, @unchecked Sendable {
    // `@unchecked`: the launcher's processes change only inside `init`/`stop`, which tests call
    // from one task at a time.
    package let ports: [Int]
    package let directory: URL
    package let url: String
    private let launcher: Launcher

    package init(masters: Int = 3, durable: Bool = false) throws {
        let ports = (0..<masters).map { _ in freePort() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tally-cluster-\(UUID().uuidString)")
        let launcher = Launcher(logs: .files(in: directory))
        self.ports = ports
        self.directory = directory
        self.launcher = launcher
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let nodes = ports.map { port in
            var options = RedisServerOptions(port: port, directory: directory, appendOnly: durable)
            options.clusterBusPort = freePort()
            return options
        }
        do {
            url = try launcher.startRedisCluster(nodes)
        } catch {
            launcher.stopAll(within: 2)
            throw error
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The URL read (it is ours, so it reads).
    package var configuration: RedisConfiguration {
        try! RedisConfiguration(url: url)
    }

    package func connection() -> RedisConnection {
        RedisConnection(configuration)
    }

    /// A plain connection to one node (no redirections followed), for moving slots by hand.
    package func node(_ port: Int) -> RedisConnection {
        RedisConnection(RedisConfiguration(host: "127.0.0.1", port: port))
    }

    /// Each node's id, by port.
    package func nodeIDs() throws -> [Int: String] {
        var ids: [Int: String] = [:]
        for port in ports { ids[port] = try node(port).send("CLUSTER", "MYID").string }
        return ids
    }

    /// The port of the master serving `slot`, as the node on `ports[0]` tells it.
    package func master(of slot: Int) throws -> Int {
        for range in try node(ports[0]).send("CLUSTER", "SLOTS").array ?? [] {
            guard let items = range.array, let start = items[0].int, let end = items[1].int, let port = items[2].array?[1].int else { continue }
            if (start...end).contains(Int64(slot)) { return Int(port) }
        }
        throw TestSetupError("no master serves slot \(slot)")
    }

    /// Stops every node (SIGTERM) and waits for them to exit.
    package func stop() {
        launcher.stopAll(within: 5)
    }
}
