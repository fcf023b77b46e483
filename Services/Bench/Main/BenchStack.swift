import Foundation
import TallyLauncher

/// The whole stack for a benchmark, on free loopback ports, logs in a scratch directory.
final class BenchStack {
    /// The org whose rules have `log_days: 0`: the same work as any other, without the activity log.
    static let noLogOrg = "bench-nolog"

    let directory: URL
    let services: LocalStack
    private let launcher: Launcher

    var redisURL: String { services.redisURL }
    var ingestion: String { services.ingestionEndpoint }
    var leaderboard: String { services.leaderboardEndpoint }
    var httpPort: Int { services.httpPort }
    var tvPort: Int { services.tvPort }
    var adminToken: String { services.adminToken ?? "" }

    /// `keys`: the front door takes CURVE, the stack's own sockets the service key (as `tally
    /// up` runs them), and the tools' field key is registered for `fieldKeyOrg`.
    /// `shards`: 1, one redis-server; 3 or more, a Redis Cluster of that many masters.
    init(keys: StackKeys? = nil, fieldKeyOrg: String = "bench", shards: Int = 1) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tally-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        launcher = Launcher(logs: .files(in: directory))
        // As in production: AOF on, fsynced before every reply (on every shard, each with a
        // directory of its own for its AOF).
        let redisURL: String
        if shards == 1 {
            let redis = RedisServerOptions(port: freePort(), directory: directory)
            try launcher.startRedis(redis)
            redisURL = redis.url
        } else {
            let directory = directory
            let nodes = try (1...shards).map { shard in
                let nodeDirectory = directory.appendingPathComponent("redis-\(shard)")
                try FileManager.default.createDirectory(at: nodeDirectory, withIntermediateDirectories: true)
                var options = RedisServerOptions(port: freePort(), directory: nodeDirectory)
                options.clusterBusPort = freePort()
                return options
            }
            redisURL = try launcher.startRedisCluster(nodes)
        }
        // Every org has the default rules but `noLogOrg`, which keeps no activity log.
        let rules = directory.appendingPathComponent("rules")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        try Data(#"{"log_days": 0}"#.utf8).write(to: rules.appendingPathComponent("\(Self.noLogOrg).json"))
        var services = LocalStack.onFreePorts(redisURL: redisURL, rules: rules.path, logLevel: "warning")
        services.keys = keys
        try keys?.registerFieldKey(org: fieldKeyOrg, redisURL: redisURL)
        // The scenarios read without tokens (what a token's look-up costs is its own row).
        services.openReads = true
        // Quotas are put through the leaderboard, as an organizer would (scenario 10).
        services.adminToken = "bench-admin-" + UUID().uuidString
        self.services = services
        // The scoring workers come with each run: `scoringWorkers(_:)`.
        try launcher.startServices(of: services, scoringWorkers: 0)
    }

    deinit {
        launcher.stopAll(within: 5)
        try? FileManager.default.removeItem(at: directory)
    }

    /// A second tally-leaderboard on the same Redis with reads closed (every read looks its
    /// token up): its ZeroMQ endpoint and HTTP port.
    func closedLeaderboard() throws -> (endpoint: String, httpPort: Int) {
        var closed = services
        closed.openReads = false
        closed.leaderboardPort = freePort()
        closed.httpPort = freePort()
        try launcher.start(.leaderboard, of: closed, name: "leaderboard-closed")
        return (closed.leaderboardEndpoint, closed.httpPort)
    }

    /// Runs exactly `count` scoring workers.
    func scoringWorkers(_ count: Int) throws {
        launcher.stop(within: 10, where: { $0.hasPrefix("scoring") })
        for index in 1...count {
            try launcher.start(.scoring, of: services, name: "scoring-\(index)")
        }
        Thread.sleep(forTimeInterval: 1)  // the workers join ingestion
    }

    /// Each service's resident memory now, in MiB.
    var memory: [(name: String, megabytes: Double)] {
        launcher.processes.compactMap { name, process in residentMegabytes(pid: process.pid).map { (name, $0) } }
    }

    /// The CPU seconds each process has used so far, by name: `<name>` in user mode and
    /// `<name> (kernel)`.
    var cpu: [String: Double] {
        var out: [String: Double] = [:]
        for (name, process) in launcher.processes {
            guard let seconds = cpuSeconds(pid: process.pid) else { continue }
            (out[name], out[name + " (kernel)"]) = (seconds.user, seconds.system)
        }
        return out
    }

    /// Starts another process beside the stack (the soak's simulator), logged with it.
    func start(_ name: String, _ executable: URL, _ arguments: [String]) throws -> ChildProcess {
        try launcher.start(name, executable, arguments)
    }

    /// Stops the benchmark if a service died, with its log.
    func checkAlive() throws {
        try launcher.checkAlive()
    }
}
