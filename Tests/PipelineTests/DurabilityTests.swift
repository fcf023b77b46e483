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
        let replica = try RedisServer(replicaOf: stack.redis)
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
}
