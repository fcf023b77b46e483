import Foundation
import Redis
import TallyTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// "Accepted" is a promise: where the Redis master has a replica, an event is answered
/// `accepted` only once the replica has its batch too.
@Suite struct DurabilityTests {
    @Test func anEventIsAcceptedOnlyOnceAReplicaHasIt() throws {
        let stack = try TallyStack()
        let replica = try RedisServer(replicaOf: stack.server)
        let master = stack.redis.connection()
        try wait("the replica to be in sync") {
            (try master.send("INFO", "replication").string ?? "").contains("state=online")
        }
        try stack.startIngestion()
        try stack.startWorker(["--replica-wait-ms", "300"])
        let app = try FieldApp(stack.endpoint)
        let at = rfc3339(Date().addingTimeInterval(-60))

        let first = try app.request(eventJSON(id: "e1", rep: "ana", kind: "deal_won", value: 500, at: at))
        #expect(first?.results?.first?.status == "accepted", "\(String(describing: first))\n\(stack.logs)")
        // Answered only once the replica had it: it is there as the reply arrives.
        #expect(try replica.connection().send("EXISTS", "{default}:seen:e1").int == 1)

        // A replica that cannot take it: the event is stored on the master, but not promised.
        replica.signal(SIGSTOP)
        defer { replica.signal(SIGCONT) }
        let refused = try app.request(eventJSON(id: "e2", rep: "ana", kind: "deal_won", value: 700, at: at))
        #expect(refused?.ok == false && refused?.error == "unavailable", "\(String(describing: refused))\n\(stack.logs)")

        replica.signal(SIGCONT)
        try wait("the replica to have e2") { (try? replica.connection().send("EXISTS", "{default}:seen:e2").int) == 1 }
        // The field app's retry is answered: counted once.
        #expect(try app.request(eventJSON(id: "e2", rep: "ana", kind: "deal_won", value: 700, at: at))?.results?.first?.status == "duplicate")
        #expect(try master.send("ZSCORE", "{default}:board:revenue:all:reps:all", "ana").double == 1_200)
    }

    /// Redis killed outright in the middle of a stream, and restarted on its append-only file:
    /// a client that resends whatever was not answered sees every event counted exactly once.
    @Test func aRedisKilledMidStreamLosesNoAcknowledgedEvent() throws {
        let stack = try TallyStack(durableRedis: true)
        try stack.startIngestion()
        try stack.startWorker()
        let app = try FieldApp(stack.endpoint)
        let at = Date().addingTimeInterval(-60)
        let kinds = ["door_knock", "call", "appointment", "demo", "deal_won"]
        let events = (0..<4_000).map { i in
            let kind = kinds[i % kinds.count]
            return Expected.Event(id: "k\(i)", rep: "rep-\(i % 40)", team: "team-\(i % 4)", kind: kind, value: kind == "deal_won" ? Double(100 + i) : 1)
        }
        func json(_ event: Expected.Event) -> String {
            eventJSON(id: event.id, rep: event.rep, team: event.team, kind: event.kind, value: event.kind == "deal_won" ? event.value : nil, at: rfc3339(at))
        }

        var statuses: [String: String] = [:]
        var retries = 0
        var killed = false
        for (number, start) in stride(from: 0, to: events.count, by: 10).enumerated() {
            let batch = Array(events[start..<start + 10])
            if number == 100 {
                // While the next requests are on their way: kill -9, then a restart a second later.
                killed = true
                Thread.detachNewThread {
                    Thread.sleep(forTimeInterval: 0.05)
                    stack.server.signal(SIGKILL)
                    Thread.sleep(forTimeInterval: 1)
                    try? stack.server.restart()
                }
            }
            // A field app resends a request until it has an answer for every event.
            while true {
                let reply = try app.request(batchJSON(batch.map(json)))
                if let results = reply?.results, results.allSatisfy({ $0.status == "accepted" || $0.status == "duplicate" }) {
                    for result in results { statuses[result.id!] = result.status }
                    break
                }
                #expect(reply == nil || reply?.error == "unavailable", "\(String(describing: reply))")
                retries += 1
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        #expect(killed && retries > 0, "the kill should have made some request wait: \(retries) retries")
        #expect(statuses.count == 4_000)
        let redis = stack.redis.connection()
        #expect(try redis.allBoards() == Expected.boards(events, at: at), "\(stack.logs)")
    }
}

