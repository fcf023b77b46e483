import Foundation
import Redis

extension Launcher {
    /// Starts one cluster-enabled `redis-server` per options (`clusterNode` set), joins them
    /// into a Redis Cluster of that many masters with `redis-cli --cluster create`, the slots
    /// shared evenly, and waits until every node says `cluster_state:ok` and tells the same
    /// slot map. Returns the cluster's `redis-cluster://` URL.
    @discardableResult
    package func startRedisCluster(_ nodes: [RedisServerOptions], name: String = "redis") throws -> String {
        precondition(nodes.count >= 3 && nodes.allSatisfy(\.clusterNode), "a Redis Cluster takes three cluster-enabled masters at least")
        for (index, options) in nodes.enumerated() { try startRedis(options, name: "\(name)-\(index + 1)") }
        let addresses = nodes.map { "127.0.0.1:\($0.port)" }
        var arguments = ["--cluster", "create"] + addresses + ["--cluster-replicas", "0", "--cluster-yes"]
        if let password = nodes[0].password { arguments = ["-a", password, "--no-auth-warning"] + arguments }
        let create = try start("\(name)-create", try Executables.installed("redis-cli"), arguments)
        try waitUntil("redis-cli --cluster create", seconds: 30) { !create.isRunning }
        guard create.wait() == 0 else { throw LaunchError.exited("\(name)-create", status: create.wait(), output: create.output) }
        forget(create)  // done, as it should be: not a service that died
        let url = "redis-cluster://" + (nodes[0].password.map { ":\($0)@" } ?? "") + addresses.joined(separator: ",")
        try waitUntilClusterAgrees(nodes)
        return url
    }

    /// Waits until each node says `cluster_state:ok` and all tell one slot map with every slot.
    package func waitUntilClusterAgrees(_ nodes: [RedisServerOptions], seconds: Double = 30) throws {
        try waitUntil("the Redis Cluster to agree on its slots", seconds: seconds) {
            var maps: Set<String> = []
            for options in nodes {
                guard let connection = try? RedisConnection(url: options.url),
                    let info = try? connection.send("CLUSTER", "INFO").string, info.contains("cluster_state:ok"),
                    let slots = try? connection.send("CLUSTER", "SLOTS").array
                else { return false }
                let ranges = slots.compactMap { range -> String? in
                    guard let items = range.array, items.count >= 3, let start = items[0].int, let end = items[1].int,
                        let port = items[2].array?[1].int
                    else { return nil }
                    return "\(start)-\(end)@\(port)"
                }
                let covered = slots.compactMap { range -> Int64? in
                    guard let items = range.array, let start = items.first?.int, let end = items.dropFirst().first?.int else { return nil }
                    return end - start + 1
                }.reduce(0, +)
                guard covered == 16_384 else { return false }
                maps.insert(ranges.sorted().joined(separator: ","))
            }
            return maps.count == 1
        }
    }
}
