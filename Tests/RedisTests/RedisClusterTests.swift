import Foundation
import Redis
import Synchronization
import TallyTesting
import Testing

/// CRC16 and hash tags, against published vectors and a real server's `CLUSTER KEYSLOT`.
@Suite struct HashSlotTests {
    @Test func crc16IsXModem() {
        // The check value of CRC-16/XMODEM, and the one Redis's cluster spec gives.
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(HashSlot.crc16([UInt8]()) == 0)
    }

    @Test func slotsOfKnownKeys() {
        // As the Redis Cluster tutorial's redis-cli session shows them.
        #expect(HashSlot.of("foo") == 12182)
        #expect(HashSlot.of("bar") == 5061)
        #expect(HashSlot.of("hello") == 866)
        // The spec's hash-tag rules.
        #expect(HashSlot.of("{user1000}.following") == HashSlot.of("user1000"))
        #expect(HashSlot.of("{user1000}.followers") == HashSlot.of("user1000"))
        #expect(HashSlot.of("foo{}{bar}") == Int(HashSlot.crc16(Array("foo{}{bar}".utf8)) % 16384))
        #expect(HashSlot.of("foo{{bar}}zap") == HashSlot.of("{bar"))
        #expect(HashSlot.of("foo{bar}{zap}") == HashSlot.of("bar"))
    }

    @Test func slotsAgreeWithARealServer() throws {
        let cluster = try RedisCluster()
        let node = cluster.node(cluster.ports[0])
        var keys = ["{acme}:board:points:today:reps:2026-11-29", "tally:field-keys", "tally:contest-orgs", "", "{", "}{", "{}", "a{b}c"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let length = Int.random(in: 0...12, using: &generator)
            keys.append(String((0..<length).map { _ in "ab{}:xyz019".randomElement(using: &generator)! }))
        }
        let replies = try node.pipeline(keys.map { ["CLUSTER", "KEYSLOT", $0] })
        for (key, reply) in zip(keys, replies) {
            #expect(reply.int.map(Int.init) == HashSlot.of(key), "slot of '\(key)'")
        }
    }
}

/// The cluster client against a real three-master cluster: each command on its slot's master,
/// pipelines split and put back in order, scripts loaded per node, and slots that move.
@Suite(.serialized) struct RedisClusterTests {
    let cluster: RedisCluster
    let redis: RedisConnection

    init() throws {
        cluster = try RedisCluster()
        redis = cluster.connection()
    }

    /// `count` orgs whose slots are spread over every master (org0, org1, ...).
    private func orgs(_ count: Int) -> [String] { (0..<count).map { "org\($0)" } }

    @Test func eachKeyIsStoredOnItsSlotsMaster() throws {
        for org in orgs(60) { try redis.send("SET", "{\(org)}:name", org) }
        var perNode: [Int: Int] = [:]
        for org in orgs(60) {
            let port = try cluster.master(of: HashSlot.of(org))
            perNode[port, default: 0] += 1
            // The master of the slot has it, read without any routing.
            #expect(try cluster.node(port).send("GET", "{\(org)}:name").string == org)
        }
        #expect(perNode.count == 3, "60 orgs fall on all three masters")
        // Commands about a whole server ask every master.
        #expect(try redis.send("DBSIZE").int == 60)
        #expect(Set(try redis.send("KEYS", "*").array?.compactMap(\.string) ?? []) == Set(orgs(60).map { "{\($0)}:name" }))
        for port in cluster.ports { #expect(try cluster.node(port).send("DBSIZE").int == Int64(perNode[port] ?? 0)) }
    }

    @Test func aPipelineOverEveryMasterAnswersInOrder() throws {
        // INCRBY of i on org(i % 30): 900 commands over 30 orgs, so over all three masters.
        let commands: [[any RedisArgument]] = (0..<900).map { i in ["INCRBY", "{org\(i % 30)}:n", i] }
        let replies = try redis.pipeline(commands)
        // Reply i is org k = i % 30's running total: k + (k + 30) + ... + i, that is
        // `terms` terms of k plus 30·(0 + 1 + ... + terms − 1).
        for (i, reply) in replies.enumerated() {
            let k = i % 30, terms = i / 30 + 1
            let expected = terms * k + 30 * terms * (terms - 1) / 2
            #expect(reply == .integer(Int64(expected)), "reply \(i)")
        }
        // An error reply stays in its place, the others around it answer.
        let mixed = try redis.pipeline([["GET", "{org1}:n"], ["HGET", "{org2}:n", "x"], ["GET", "{org3}:n"]])
        let org1: Int64 = 13_080, org3: Int64 = 13_140  // 30·k + 30·(0 + ... + 29) for k = 1, 3
        #expect(mixed[0] == .bulk(Data(String(org1).utf8)))
        #expect(mixed[1].errorText?.hasPrefix("WRONGTYPE") == true)
        #expect(mixed[2] == .bulk(Data(String(org3).utf8)))
    }

    @Test func scriptsRunWhereTheirKeysAreAndReloadAfterAFlush() throws {
        let add = RedisScript("redis.call('ZINCRBY', KEYS[1], ARGV[1], ARGV[2]); return redis.call('INCR', KEYS[2])")
        let calls = orgs(30).map { (keys: ["{\($0)}:board", "{\($0)}:seq"], arguments: ["5", "ana"]) }
        #expect(try redis.pipeline(add, calls: calls) == Array(repeating: .integer(1), count: 30))
        // One node forgets its scripts; the calls it refuses are loaded again and run once each.
        let flushed = try cluster.master(of: HashSlot.of("org0"))
        try cluster.node(flushed).send("SCRIPT", "FLUSH")
        #expect(try redis.pipeline(add, calls: calls) == Array(repeating: .integer(2), count: 30))
        for org in orgs(30) { #expect(try redis.send("ZSCORE", "{\(org)}:board", "ana").double == 10) }
        // A script whose keys are in two slots is refused by Redis, in its place.
        let cross = try redis.pipeline(add, calls: [(keys: ["{org0}:board", "{org1}:seq"], arguments: ["1", "x"])])
        #expect(cross[0].errorText?.hasPrefix("CROSSSLOT") == true, "\(cross[0])")
    }

    @Test func aSlotAssignedElsewhereIsFollowed() throws {
        let slot = HashSlot.of("org7")
        try redis.send("SET", "{org7}:before", "1")
        try redis.send("DEL", "{org7}:before")
        let from = try cluster.master(of: slot)
        let to = try #require(cluster.ports.first { $0 != from })
        let ids = try cluster.nodeIDs()
        // The slot is empty: hand it to another master, all nodes told (no keys to migrate).
        for port in [to, from] + cluster.ports.filter({ $0 != to && $0 != from }) {
            try cluster.node(port).send("CLUSTER", "SETSLOT", slot, "NODE", ids[to]!)
        }
        // The client's map still says `from`: MOVED sends it on, and the key lands on `to`.
        try redis.send("SET", "{org7}:after", "2")
        #expect(try cluster.node(to).send("GET", "{org7}:after").string == "2")
        // The old master sends whoever asks it on.
        let moved = #expect(throws: RedisError.self) { try cluster.node(from).send("GET", "{org7}:after") }
        #expect(moved?.code == "MOVED")
        #expect(try redis.send("GET", "{org7}:after").string == "2")
    }

    /// A slot moved by hand (SETSLOT IMPORTING/MIGRATING, MIGRATE in two parts, SETSLOT NODE)
    /// while two writers stream writes into the org in it: one with single-key commands and a
    /// one-key script, which go on through ASK at each step; one with a script over a new key
    /// and an old one (as scoring's, whose idempotency records are new keys), which Redis holds
    /// off with TRYAGAIN until the move ends, retried like a field app. Every count is exact.
    @Test func aSlotMovedByHandWhileWritesStreamLosesAndDoublesNothing() throws {
        let org = "acme", other = "globex"
        let slot = HashSlot.of(org)
        let from = try cluster.master(of: slot)
        let to = try #require(cluster.ports.first { $0 != from })
        let ids = try cluster.nodeIDs()
        let configuration = cluster.configuration
        let shared = StreamProgress()

        let bump = RedisScript("return redis.call('ZINCRBY', KEYS[1], 1, ARGV[1])")
        let steady = Thread {
            let redis = RedisConnection(configuration)
            while !shared.stop.load(ordering: .relaxed) {
                do {
                    let replies = try redis.pipeline([["HINCRBY", "{\(org)}:hits", "n", 1], ["HINCRBY", "{\(other)}:hits", "n", 1]])
                    _ = try replies.map { try $0.throwingError() }
                    _ = try redis.run(bump, keys: ["{\(org)}:board"], arguments: ["ana"])
                    shared.steps.add(1, ordering: .relaxed)
                } catch {
                    shared.failures.withLock { $0.append("steady writer: \(error)") }
                    return
                }
            }
        }
        // Counts an event once however often it is sent: its record is new, the total is old.
        let once = RedisScript("if redis.call('SET', KEYS[1], '1', 'NX') then return redis.call('INCR', KEYS[2]) end return 0")
        let retrying = Thread {
            let redis = RedisConnection(configuration)
            var event = 0
            while !shared.stop.load(ordering: .relaxed) {
                event += 1
                var sent = false
                for _ in 0..<100 where !sent {
                    if (try? redis.run(once, keys: ["{\(org)}:seen:e\(event)", "{\(org)}:total"]).int) != nil { sent = true }
                }
                guard sent else {
                    shared.failures.withLock { $0.append("event \(event) was never acknowledged") }
                    return
                }
                shared.events.add(1, ordering: .relaxed)
            }
        }
        steady.start()
        retrying.start()
        func goesOn(_ what: String) throws {
            let now = shared.steps.load(ordering: .relaxed)
            try wait("the steady writer to go on \(what)", seconds: 20) {
                shared.steps.load(ordering: .relaxed) >= now + 25 || !shared.failures.withLock(\.isEmpty)
            }
        }
        defer { shared.stop.store(true, ordering: .relaxed) }

        try wait("both writers to start") { shared.steps.load(ordering: .relaxed) > 20 && shared.events.load(ordering: .relaxed) > 20 }
        let source = cluster.node(from), target = cluster.node(to)
        try target.send("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[from]!)
        try source.send("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to]!)
        try goesOn("while the slot is migrating")
        let keys = try source.send("CLUSTER", "GETKEYSINSLOT", slot, 1000).array?.compactMap(\.string) ?? []
        #expect(keys.count > 20, "the seen records, the hits, the board and the total")
        let half = keys.count / 2
        for part in [Array(keys[..<half]), Array(keys[half...])] {
            try source.send(["MIGRATE", "127.0.0.1", to, "", 0, 5000, "KEYS"] + part)
            try goesOn("after \(part.count) keys moved")
        }
        // Whatever was made on the source meanwhile moves too.
        while let left = try source.send("CLUSTER", "GETKEYSINSLOT", slot, 1000).array?.compactMap(\.string), !left.isEmpty {
            try source.send(["MIGRATE", "127.0.0.1", to, "", 0, 5000, "KEYS"] + left)
        }
        for port in [to, from] + cluster.ports.filter({ $0 != to && $0 != from }) {
            try cluster.node(port).send("CLUSTER", "SETSLOT", slot, "NODE", ids[to]!)
        }
        try goesOn("once the slot is the target's")
        let eventsBefore = shared.events.load(ordering: .relaxed)
        try wait("the retrying writer to go on") { shared.events.load(ordering: .relaxed) > eventsBefore + 20 || !shared.failures.withLock(\.isEmpty) }
        shared.stop.store(true, ordering: .relaxed)
        try wait("both writers to stop") {
            let a = shared.steps.load(ordering: .relaxed), b = shared.events.load(ordering: .relaxed)
            Thread.sleep(forTimeInterval: 0.3)
            return a == shared.steps.load(ordering: .relaxed) && b == shared.events.load(ordering: .relaxed)
        }
        #expect(shared.failures.withLock { $0 } == [])

        let stepped = Int64(shared.steps.load(ordering: .relaxed)), counted = Int64(shared.events.load(ordering: .relaxed))
        let check = cluster.connection()
        #expect(try check.send("HGET", "{\(org)}:hits", "n").int == stepped)
        #expect(try check.send("HGET", "{\(other)}:hits", "n").int == stepped)
        #expect(try check.send("ZSCORE", "{\(org)}:board", "ana").double == Double(stepped))
        #expect(try check.send("GET", "{\(org)}:total").int == counted)
        // Every one of the org's keys is on the target now, and none is left on the source.
        #expect(try cluster.master(of: slot) == to)
        #expect(try source.send("CLUSTER", "COUNTKEYSINSLOT", slot).int == 0)
        #expect(try target.send("CLUSTER", "COUNTKEYSINSLOT", slot).int == counted + 3)
    }
}

/// What the writers of a streaming test share with it.
private final class StreamProgress: Sendable {
    let stop = Atomic<Bool>(false)
    let steps = Atomic<Int>(0)
    let events = Atomic<Int>(0)
    let failures = Mutex<[String]>([])
}

extension RedisReply {
    /// An error reply's text.
    fileprivate var errorText: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}
