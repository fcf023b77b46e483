import Foundation
import Redis
import TallyStore
import TallyTesting
import Testing

/// What a worker's `WAIT` after a batch promises, against real servers: a write is confirmed
/// only by a replica of the server it went to.
@Suite(.serialized) struct ReplicaAcknowledgementTests {
    func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000) }

    @Test func aMasterWithoutReplicasHasNothingToWaitFor() throws {
        let server = try RedisServer()
        let redis = server.connection()
        try redis.send("SET", "k", "v")
        #expect(try ReplicaAcknowledgement(timeoutMilliseconds: 200).confirm(on: redis, now: now()))
    }

    /// Without replicas a batch is still answered only after one more round trip (a reply from
    /// a later turn of Redis's loop, so the invalidations the batch caused have left for the
    /// leaderboards' version watches): `ROLE` when it is asked, else `PING`.
    @Test func aBatchIsConfirmedOnlyAfterOneMoreRoundTrip() throws {
        let server = try RedisServer()
        let redis = server.connection()
        let stats = server.connection()
        func calls(_ command: String) throws -> Int {
            let info = try stats.send("INFO", "commandstats").string ?? ""
            let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_\(command):") }
            return line.flatMap { $0.split(separator: ",").first?.split(separator: "=").last }.flatMap { Int($0) } ?? 0
        }
        let acknowledgement = ReplicaAcknowledgement(timeoutMilliseconds: 200)
        let start = now()
        for batch in 1...5 {
            try redis.send("INCR", "seq")
            let before = (try calls("ping"), try calls("role"))
            #expect(try acknowledgement.confirm(on: redis, now: start + Int64(batch)))
            let after = (try calls("ping"), try calls("role"))
            // The first batch asks ROLE (nothing asked yet), the others PING.
            #expect(after.0 - before.0 + after.1 - before.1 == 1, "batch \(batch)")
        }
    }

    /// A master turned replica under an open connection (as a failover demotes it) says
    /// nothing of it to a write made before: what it took may be lost with it.
    @Test func aWriteToAMasterDemotedSinceIsNotConfirmed() throws {
        let master = try RedisServer()
        // A full sync at once, not after the 5 s Redis waits for more replicas to share it.
        try master.connection().send("CONFIG", "SET", "repl-diskless-sync-delay", "0")
        let replica = try RedisServer(replicaOf: master)
        try wait("the replica to be in sync") {
            (try master.connection().send("INFO", "replication").string ?? "").contains("state=online")
        }
        let redis = master.connection()
        try redis.send("SET", "k", "v")
        // The replica promoted, the master made its replica.
        try replica.connection().send("REPLICAOF", "NO", "ONE")
        try master.connection().send("REPLICAOF", "127.0.0.1", String(replica.port))

        #expect(try ReplicaAcknowledgement(timeoutMilliseconds: 200).confirm(on: redis, now: now()) == false)
        // Dropped: the next call connects again.
        #expect(redis.connectedMasters.isEmpty)
    }

    /// Once Sentinel has switched the master, a write made on the old one is not confirmed by
    /// asking the new one, whose replicas never saw it.
    @Test func aWriteToAMasterSentinelSwitchedAwayFromIsNotConfirmed() throws {
        let deployment = try RedisSentinel()
        try deployment.waitUntilReadyForFailover()
        let redis = deployment.connection()
        let watcher = deployment.connection()
        #expect(try watcher.send("CONFIG", "GET", "port").array?.last?.int == Int64(deployment.masterPort))
        let acknowledgement = ReplicaAcknowledgement(timeoutMilliseconds: 500)
        try redis.send("SET", "k", "before")
        #expect(try acknowledgement.confirm(on: redis, now: now()))

        try redis.send("SET", "k", "just before")
        let sentinel = deployment.node(deployment.sentinelPorts[0])
        try wait("Sentinel to start a failover") { (try? sentinel.send("SENTINEL", "FAILOVER", RedisSentinel.masterName)) == .status("OK") }
        // Another connection of the process has moved: the switch has been heard.
        try wait("the switch to be heard", seconds: 10) {
            try watcher.send("CONFIG", "GET", "port").array?.last?.int == Int64(deployment.replicaPort)
        }
        #expect(throws: RedisError.self) { try acknowledgement.confirm(on: redis, now: now()) }
        // The next call goes to the new master.
        #expect(try redis.send("CONFIG", "GET", "port").array?.last?.int == Int64(deployment.replicaPort))
    }

    @Test func aBatchWrittenPartlyBeforeASwitchAndPartlyAfterIsNotConfirmed() throws {
        let deployment = try RedisSentinel()
        try deployment.waitUntilReadyForFailover()
        let redis = deployment.connection()
        let acknowledgement = ReplicaAcknowledgement(timeoutMilliseconds: 500)
        // One batch: a first part on the old master, then Sentinel switches, then the rest.
        try redis.send("SET", "part", "one")
        let sentinel = deployment.node(deployment.sentinelPorts[0])
        try wait("Sentinel to start a failover") { (try? sentinel.send("SENTINEL", "FAILOVER", RedisSentinel.masterName)) == .status("OK") }
        try wait("the switch to be heard", seconds: 10) {
            (try? redis.send("SET", "part", "two")) != nil
                && (try? redis.send("CONFIG", "GET", "port").array?.last?.int) == Int64(deployment.replicaPort)
        }
        // Written to both: the first part may be lost with the old master, so not confirmed.
        #expect(try acknowledgement.confirm(on: redis, now: now()) == false)
    }
}
