import Foundation
import Redis
import TallyTesting
import Testing

/// The Sentinel client against a real master, replica and three Sentinels on loopback.
@Suite(.serialized) struct RedisSentinelTests {
    /// The port of the server a connection's commands reach.
    func port(of connection: RedisConnection) throws -> Int? {
        try connection.send("CONFIG", "GET", "port").array?.last?.int.map(Int.init)
    }

    @Test func aConnectionGoesToTheMasterSentinelNames() throws {
        let deployment = try RedisSentinel()
        let redis = deployment.connection()
        try redis.send("SET", "k", "v")
        #expect(try port(of: redis) == deployment.masterPort)
        #expect(try deployment.node(deployment.masterPort).send("GET", "k").string == "v")
    }

    /// `SENTINEL FAILOVER` promotes the replica while the master stays up: the connection to
    /// it never breaks, and nothing it answers says it is no longer the master until Sentinel
    /// demotes it, so only `+switch-master` can tell the connection to move.
    @Test func aSwitchIsFollowedWhileTheOldConnectionStillWorks() throws {
        let deployment = try RedisSentinel()
        try deployment.waitUntilReadyForFailover()
        let redis = deployment.connection()
        try redis.send("SET", "k", "before")
        #expect(try port(of: redis) == deployment.masterPort)

        let sentinel = deployment.node(deployment.sentinelPorts[0])
        try wait("Sentinel to start a failover") { (try? sentinel.send("SENTINEL", "FAILOVER", RedisSentinel.masterName)) == .status("OK") }
        try wait("the replica to be named master") { deployment.named(by: deployment.sentinelPorts[0]) == deployment.replicaPort }

        // The old master is still up (Sentinel demotes it seconds later): the old connection
        // would go on reading and writing there.
        try wait("the connection to follow the switch", seconds: 10) { try port(of: redis) == deployment.replicaPort }
        #expect(try redis.send("ROLE").array?.first?.string == "master")
        #expect(try redis.send("GET", "k").string == "before")
        try redis.send("SET", "k", "after")
        #expect(try deployment.node(deployment.replicaPort).send("GET", "k").string == "after")
    }

    /// The follower's subscriptions cut on every Sentinel (as Sentinels restarting cut them):
    /// it subscribes again, and a switch after that is still followed.
    @Test func aFollowerCutOffSubscribesAgainAndStillFollows() throws {
        let deployment = try RedisSentinel()
        try deployment.waitUntilReadyForFailover()
        let redis = deployment.connection()
        #expect(try port(of: redis) == deployment.masterPort)
        /// The ids of a Sentinel's subscribed clients.
        func subscribers(_ port: Int) -> Set<String> {
            let list = (try? deployment.node(port).send("CLIENT", "LIST", "TYPE", "pubsub").string) ?? ""
            return Set(list.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        }
        try wait("the follower to subscribe on every Sentinel") { deployment.sentinelPorts.allSatisfy { subscribers($0).count == 1 } }
        let before = deployment.sentinelPorts.map(subscribers)

        for port in deployment.sentinelPorts { try deployment.node(port).send("CLIENT", "KILL", "TYPE", "pubsub") }
        try wait("the follower to subscribe again on every Sentinel") {
            zip(deployment.sentinelPorts, before).allSatisfy { port, old in
                let now = subscribers(port)
                return now.count == 1 && now != old
            }
        }

        let sentinel = deployment.node(deployment.sentinelPorts[0])
        try wait("Sentinel to start a failover") { (try? sentinel.send("SENTINEL", "FAILOVER", RedisSentinel.masterName)) == .status("OK") }
        try wait("the connection to follow the switch", seconds: 10) { try port(of: redis) == deployment.replicaPort }
    }

    /// However many connections a process makes to one deployment, one thread follows it; it
    /// ends once they are gone.
    @Test func oneThreadFollowsADeploymentPerProcess() throws {
        let deployment = try RedisSentinel()
        let name = "sentinel-\(deployment.sentinelPorts[0])"
        #expect(threads(named: name) == 0)
        var connections = (0..<4).map { _ in deployment.connection() }
        for connection in connections { try connection.send("PING") }
        // A thread names itself once it runs.
        try wait("the follower's thread to start", seconds: 5) { threads(named: name) >= 1 }
        #expect(threads(named: name) == 1)

        connections.removeAll()
        try wait("the follower's thread to end", seconds: 5) { threads(named: name) == 0 }
    }
}
