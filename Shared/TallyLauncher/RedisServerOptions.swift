import Foundation

/// How a local `redis-server` runs: the one place its command line is spelled.
package struct RedisServerOptions: Sendable {
    package var port: Int
    /// Where it keeps its data (the AOF, when on).
    package var directory: URL
    /// AOF on and fsynced before every reply (`appendfsync always`), as SPEC's durability asks
    /// of `tally up` and the benchmark: an event answered "accepted" survives a power cut. Tests
    /// turn the AOF off, for speed.
    package var appendOnly: Bool
    /// Clients must AUTH with it (`--requirepass`).
    package var password: String?
    /// A replica of the server on this loopback port (`--replicaof`).
    package var replicaOf: Int?
    /// A node of a Redis Cluster (`--cluster-enabled yes`, its node table in its directory),
    /// talking to the other nodes on this port (`--cluster-port`: any free one, not port + 10000).
    package var clusterBusPort: Int?
    package var clusterNode: Bool { clusterBusPort != nil }

    package init(port: Int, directory: URL, appendOnly: Bool = true, password: String? = nil) {
        self.port = port
        self.directory = directory
        self.appendOnly = appendOnly
        self.password = password
    }

    /// Where clients reach it, password included.
    package var url: String {
        if let password { return "redis://:\(password)@127.0.0.1:\(port)" }
        return "redis://127.0.0.1:\(port)"
    }

    /// Loopback only, in the foreground, no RDB snapshots.
    package var arguments: [String] {
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path, "--appendonly", appendOnly ? "yes" : "no",
            "--save", "", "--daemonize", "no", "--loglevel", "warning",
        ]
        if appendOnly { arguments += ["--appendfsync", "always"] }
        if let password { arguments += ["--requirepass", password, "--masterauth", password] }
        if let replicaOf { arguments += ["--replicaof", "127.0.0.1", String(replicaOf)] }
        if let clusterBusPort {
            arguments += [
                "--cluster-port", String(clusterBusPort),
                "--cluster-enabled", "yes", "--cluster-config-file", directory.appendingPathComponent("nodes-\(port).conf").path,
                "--cluster-node-timeout", "5000",
            ]
        }
        return arguments
    }
}
