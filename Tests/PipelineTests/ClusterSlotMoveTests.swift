import Foundation
import Redis
import Synchronization
import TallyTesting
import Testing

/// The whole pipeline on a three-master cluster while an operator moves an org's slot from one
/// master to another by hand: a field app that resends what was not acknowledged streams the
/// org's events throughout, and afterwards every board counts each acknowledged event once.
@Suite struct ClusterSlotMoveTests {
    @Test func aSlotMovedByHandWhileAFieldAppStreamsLeavesEveryBoardExact() throws {
        let stack = try TallyStack(deployment: .cluster)
        let cluster = try #require(stack.redis as? RedisCluster)
        try stack.startIngestion()
        try stack.startWorker()
        let org = "acme"
        let slot = HashSlot.of(org)
        let from = try cluster.master(of: slot)
        let to = try #require(cluster.ports.first { $0 != from })
        let ids = try cluster.nodeIDs()

        // Batches of four events (calls, 1 point, and demos, 10) for three reps, each resent
        // with the same ids until every event is `accepted` or `duplicate`.
        let reps = ["ana", "ben", "cy"]
        let acknowledged = Mutex<[String: Int]>([:])  // rep → points acknowledged
        let batches = Atomic<Int>(0)
        let failure = Mutex<String?>(nil)
        let stop = Atomic<Bool>(false)
        let endpoint = stack.endpoint
        let app = Thread {
            do {
                let field = try FieldApp(endpoint, timeout: 15_000)
                var batch = 0
                while !stop.load(ordering: .relaxed) {
                    let events = (0..<4).map { n in (id: "e\(batch)-\(n)", rep: reps[(batch + n) % 3], kind: n % 2 == 0 ? "call" : "demo") }
                    let body = batchJSON(events.map { eventJSON(id: $0.id, org: org, rep: $0.rep, kind: $0.kind) })
                    var tries = 0
                    while true {
                        tries += 1
                        let reply = try field.request(body)
                        let statuses = reply?.results?.map(\.status) ?? []
                        if reply?.ok == true, statuses.count == 4, statuses.allSatisfy({ $0 == "accepted" || $0 == "duplicate" }) { break }
                        guard tries < 60 else { throw TestSetupError("batch \(batch) never acknowledged: \(String(describing: reply))") }
                        Thread.sleep(forTimeInterval: Double(reply?.retry_after_ms ?? 100) / 1_000)
                    }
                    acknowledged.withLock { points in
                        for event in events { points[event.rep, default: 0] += event.kind == "call" ? 1 : 10 }
                    }
                    batch += 1
                    batches.store(batch, ordering: .relaxed)
                }
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
        }
        app.start()
        defer { stop.store(true, ordering: .relaxed) }
        func goesOn(_ what: String, by count: Int = 10) throws {
            let now = batches.load(ordering: .relaxed)
            try wait("the field app to go on \(what)", seconds: 30) {
                batches.load(ordering: .relaxed) >= now + count || failure.withLock { $0 } != nil
            }
        }
        try goesOn("before the move", by: 20)

        // The move, step by step, with events in flight at each.
        let source = cluster.node(from), target = cluster.node(to)
        let beforeMove = batches.load(ordering: .relaxed)
        try target.send("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[from]!)
        try source.send("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to]!)
        Thread.sleep(forTimeInterval: 0.5)
        let keys = try source.send("CLUSTER", "GETKEYSINSLOT", slot, 10_000).array?.compactMap(\.string) ?? []
        #expect(keys.count > 10, "the org's boards, records and log: \(keys.count) keys")
        let half = keys.count / 2
        for part in [Array(keys[..<half]), Array(keys[half...])] where !part.isEmpty {
            try source.send(["MIGRATE", "127.0.0.1", to, "", 0, 5000, "KEYS"] + part)
            Thread.sleep(forTimeInterval: 0.5)
        }
        // Whatever was made on the source meanwhile moves too.
        while let left = try source.send("CLUSTER", "GETKEYSINSLOT", slot, 10_000).array?.compactMap(\.string), !left.isEmpty {
            try source.send(["MIGRATE", "127.0.0.1", to, "", 0, 5000, "KEYS"] + left)
        }
        for port in [to, from] + cluster.ports.filter({ $0 != to && $0 != from }) {
            try cluster.node(port).send("CLUSTER", "SETSLOT", slot, "NODE", ids[to]!)
        }
        let duringMove = batches.load(ordering: .relaxed) - beforeMove
        try goesOn("once the slot is the target's", by: 20)
        stop.store(true, ordering: .relaxed)
        try wait("the field app to finish its batch") { app.isFinished }
        #expect(failure.withLock { $0 } == nil, "\(stack.logs.suffix(3_000))")

        // Every board of the org counts each acknowledged event once.
        let expected = acknowledged.withLock { $0 }
        let redis = cluster.connection()
        let today = Expected.periods(Date())["today"]!
        for board in ["{\(org)}:board:points:all:reps:all", "{\(org)}:board:points:today:reps:\(today)"] {
            #expect(try redis.send("ZCARD", board).int == 3, "\(board)")
            for rep in reps {
                #expect(try redis.send("ZSCORE", board, rep).double.map { Int($0) } == expected[rep], "\(board) \(rep)")
            }
        }
        #expect(try cluster.master(of: slot) == to)
        #expect(try source.send("CLUSTER", "COUNTKEYSINSLOT", slot).int == 0)
        print("slot move: \(batches.load(ordering: .relaxed)) batches of 4 acknowledged, \(duringMove) of them while the slot moved; \(keys.count) keys moved")
    }
}
