import Foundation
import Redis
#if canImport(Glibc)
import Glibc
#endif

/// A real Sentinel deployment on loopback: a master, one replica of it and three Sentinels
/// watching it as `tally` (quorum 2, down after 1 s), each a `redis-server` from PATH on a
/// free port, in one temporary directory. Services reach it by its `redis-sentinel://` URL.
/// It stops when `stop()` is called or the value is released.
package final class RedisSentinel: @unchecked Sendable {
    // `@unchecked`: the launcher's processes change only inside `init`/`stop`, and the master's
    // signal is sent from one thread; tests drive a deployment from one task at a time.
    package static let masterName = "tally"
    package let masterPort: Int
    package let replicaPort: Int
    package let sentinelPorts: [Int]
    package let directory: URL
    package let url: String
    private let launcher: Launcher
    private let master: ChildProcess

    /// `durable`: master and replica run with AOF and `appendfsync always`, as `tally up` runs
    /// Redis, so whichever is master keeps what it acknowledged.
    package init(durable: Bool = false) throws {
        masterPort = freePort()
        replicaPort = freePort()
        sentinelPorts = (0..<3).map { _ in freePort() }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tally-sentinel-\(UUID().uuidString)")
        launcher = Launcher(logs: .files(in: directory))
        url = "redis-sentinel://" + sentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/\(Self.masterName)"
        do {
            let masterDirectory = directory.appendingPathComponent("master")
            let replicaDirectory = directory.appendingPathComponent("replica")
            for folder in [masterDirectory, replicaDirectory] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
            master = try launcher.startRedis(RedisServerOptions(port: masterPort, directory: masterDirectory, appendOnly: durable), name: "redis-master")
            // A full sync at once, not after the 5 s Redis waits for more replicas to share it.
            try node(masterPort).send("CONFIG", "SET", "repl-diskless-sync-delay", "0")
            var replica = RedisServerOptions(port: replicaPort, directory: replicaDirectory, appendOnly: durable)
            replica.replicaOf = masterPort
            try launcher.startRedis(replica, name: "redis-replica")
            // In sync before any Sentinel looks, so each finds the replica in the master's first INFO.
            try launcher.waitUntil("the replica to be in sync") {
                (try? node(masterPort).send("INFO", "replication").string)?.contains("state=online") ?? false
            }
            for (index, port) in sentinelPorts.enumerated() {
                let configuration = directory.appendingPathComponent("sentinel-\(index + 1).conf")
                try sentinelConfiguration(port: port).write(to: configuration, atomically: true, encoding: .utf8)
                let process = try launcher.start("sentinel-\(index + 1)", try Executables.installed("redis-server"), [configuration.path, "--sentinel"])
                try launcher.waitUntil("Sentinel \(index + 1) to name the master", answeredBy: process) { self.named(by: port) == self.masterPort }
            }
        } catch {
            launcher.stopAll(within: 2)
            throw error
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Loopback only, in the foreground; Sentinel rewrites this file as it learns, so it is its own.
    private func sentinelConfiguration(port: Int) -> String {
        """
        port \(port)
        bind 127.0.0.1
        daemonize no
        dir \(directory.path)
        loglevel notice
        sentinel monitor \(Self.masterName) 127.0.0.1 \(masterPort) 2
        sentinel down-after-milliseconds \(Self.masterName) 1000
        sentinel failover-timeout \(Self.masterName) 5000
        sentinel parallel-syncs \(Self.masterName) 1

        """
    }

    /// The URL read (it is ours, so it reads).
    package var configuration: RedisConfiguration {
        try! RedisConfiguration(url: url)
    }

    /// A new connection that follows the master Sentinel names.
    package func connection() -> RedisConnection {
        RedisConnection(configuration)
    }

    /// A plain connection to one server or Sentinel (no Sentinel asked).
    package func node(_ port: Int) -> RedisConnection {
        RedisConnection(RedisConfiguration(host: "127.0.0.1", port: port))
    }

    /// The master's port as the Sentinel on `port` names it; nil if it does not answer.
    package func named(by port: Int) -> Int? {
        guard let items = try? node(port).send("SENTINEL", "get-master-addr-by-name", Self.masterName).array, items.count == 2,
            let named = items[1].int
        else { return nil }
        return Int(named)
    }

    /// Waits until every Sentinel knows the other two and the replica, so that they can agree
    /// on a failover (`SENTINEL CKQUORUM`) and have a replica to promote.
    package func waitUntilReadyForFailover(seconds: Double = 20) throws {
        try launcher.waitUntil("the Sentinels to know each other and the replica", seconds: seconds) {
            sentinelPorts.allSatisfy { port in
                let sentinel = node(port)
                guard let quorum = try? sentinel.send("SENTINEL", "CKQUORUM", Self.masterName).string, quorum.contains("3 usable"),
                    let replicas = try? sentinel.send("SENTINEL", "REPLICAS", Self.masterName).array, replicas.count == 1,
                    let fields = replicas[0].array?.compactMap(\.string), let flags = fields.firstIndex(of: "flags"),
                    flags + 1 < fields.count
                else { return false }
                return fields[flags + 1] == "slave"
            }
        }
    }

    /// Kills the master outright (SIGKILL): no shutdown, no last write.
    package func killMaster() {
        master.signal(SIGKILL)
    }

    /// Stops every server and Sentinel (SIGTERM) and waits for them to exit.
    package func stop() {
        launcher.stopAll(within: 5)
    }
}
