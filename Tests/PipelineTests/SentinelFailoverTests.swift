import Foundation
import Redis
import TallyTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A master, a replica and three Sentinels; the master killed outright in the middle of a
/// stream. A field app that resends whatever was answered `unavailable` or not at all sees
/// every event counted exactly once on the new master, and the services follow it within 10 s
/// of Sentinel's switch.
@Suite struct SentinelFailoverTests {
    /// A minute ago, so that every event of the test falls in the same periods.
    let at = Date().addingTimeInterval(-60)

    func json(_ event: Expected.Event) -> String {
        eventJSON(id: event.id, rep: event.rep, team: event.team, kind: event.kind, value: event.kind == "deal_won" ? event.value : nil, at: rfc3339(at))
    }

    /// Sends `events` in one request until every one is answered `accepted` or `duplicate`;
    /// returns the statuses and how many times it had to send again.
    func sendUntilAnswered(_ events: [Expected.Event], by app: FieldApp) throws -> (statuses: [String: String], resends: Int) {
        var resends = 0
        while true {
            let reply = try app.request(batchJSON(events.map(json)))
            if let results = reply?.results, results.allSatisfy({ $0.status == "accepted" || $0.status == "duplicate" }) {
                // Ids are never repeated but by a resend: a duplicate on a first send would be a double.
                #expect(resends > 0 || results.allSatisfy { $0.status == "accepted" }, "\(results)")
                return (Dictionary(uniqueKeysWithValues: results.map { ($0.id!, $0.status) }), resends)
            }
            #expect(reply == nil || reply?.error == "unavailable", "\(String(describing: reply))")
            resends += 1
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    @Test func aMasterKilledMidStreamLosesAndDoublesNoAcknowledgedEventAndIsFollowed() throws {
        let stack = try TallyStack(durableRedis: true, deployment: .sentinel)
        let sentinel = stack.sentinel
        try sentinel.waitUntilReadyForFailover()
        try stack.startNotification()
        try stack.startIngestion()
        try stack.startWorker()
        try stack.startWorker()
        try stack.startLeaderboard()
        let app = try FieldApp(stack.endpoint, timeout: 3_000)

        // The workers WAIT for the replica: an accepted event is on it as the reply arrives.
        let first = Expected.Event(id: "w0", rep: "rep-0", team: "team-0", kind: "deal_won", value: 10)
        #expect(try app.request(json(first))?.results?.first?.status == "accepted", "\(stack.logs)")
        #expect(try sentinel.node(sentinel.replicaPort).send("EXISTS", "{default}:seen:w0").int == 1)

        let kinds = ["door_knock", "call", "appointment", "demo", "deal_won"]
        let events = (0..<2_000).map { i in
            let kind = kinds[i % kinds.count]
            return Expected.Event(id: "k\(i)", rep: "rep-\(i % 40)", team: "team-\(i % 4)", kind: kind, value: kind == "deal_won" ? Double(100 + i) : 1)
        }
        // After the switch, from a second field app: an event, then a leaderboard read and a
        // display's board that show it.
        let probe = Expected.Event(id: "probe", rep: "probe-rep", team: "team-0", kind: "deal_won", value: 777)
        let times = Locked<(killed: ContinuousClock.Instant?, switched: ContinuousClock.Instant?, accepted: Duration?, read: Duration?, shown: Duration?)>(
            (nil, nil, nil, nil, nil))
        let follower = Locked<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)

        var statuses: [String: String] = [:]
        var resends = 0
        var acceptedAfterSwitch: Duration?
        for (number, start) in stride(from: 0, to: events.count, by: 10).enumerated() {
            if number == 50 {
                Thread.detachNewThread {
                    defer { done.signal() }
                    do {
                        Thread.sleep(forTimeInterval: 0.05)
                        sentinel.killMaster()
                        let killed = ContinuousClock.now
                        times.withLock { $0.killed = killed }
                        try wait("Sentinel to switch to the replica", seconds: 30) {
                            sentinel.sentinelPorts.contains { sentinel.named(by: $0) == sentinel.replicaPort }
                        }
                        let switched = ContinuousClock.now
                        times.withLock { $0.switched = switched }
                        let prober = try FieldApp(stack.endpoint, timeout: 1_000)
                        try wait("a new event to be accepted", seconds: 10) {
                            let status = try prober.request(json(probe))?.results?.first?.status
                            return status == "accepted" || status == "duplicate"
                        }
                        let accepted = ContinuousClock.now - switched
                        times.withLock { $0.accepted = accepted }
                        try wait("the leaderboard to show it", seconds: 10 - accepted.seconds) {
                            guard let read = try? httpGet(port: stack.leaderboardHTTPPort, "/v1/orgs/default/boards/revenue:all:reps"),
                                read.status == 200
                            else { return false }
                            return read.body.contains("\"probe-rep\"")
                        }
                        let read = ContinuousClock.now - switched
                        times.withLock { $0.read = read }
                        let display = try RawStreamClient(port: stack.notificationHTTPPort, path: "/v1/stream?org=default&board=revenue:all:reps")
                        let showsProbe = { (message: StreamMessage) in message.entries?.contains { $0.member == "probe-rep" } == true }
                        guard display.read(seconds: 10 - read.seconds, until: showsProbe).contains(where: showsProbe) else {
                            throw TestSetupError("no display was shown the new event within 10 s of the switch")
                        }
                        let shown = ContinuousClock.now - switched
                        times.withLock { $0.shown = shown }
                    } catch {
                        follower.withLock { $0 = error }
                    }
                }
            }
            let (answered, sentAgain) = try sendUntilAnswered(Array(events[start..<start + 10]), by: app)
            statuses.merge(answered) { $1 }
            resends += sentAgain
            if acceptedAfterSwitch == nil, let switched = times.withLock({ $0.switched }) {
                acceptedAfterSwitch = ContinuousClock.now - switched
            }
        }
        done.wait()
        try #require(follower.withLock { $0 } == nil, "\(follower.withLock { $0 }.map { "\($0)" } ?? "")\n\(stack.logs)")
        let (killed, switched, accepted, read, shown) = times.withLock { $0 }

        #expect(resends > 0, "the kill should have made some request wait")
        #expect(statuses.count == events.count)
        // Every event on the new master once: the boards as worked out from what was sent, and
        // one activity entry each.
        let newMaster = sentinel.node(sentinel.replicaPort)
        #expect(try newMaster.send("ROLE").array?.first?.string == "master")
        #expect(try newMaster.allBoards() == Expected.boards([first] + events + [probe], at: at), "\(stack.logs)")
        #expect(try newMaster.send("XLEN", "{default}:activity").int == Int64(events.count + 2))

        let failover = switched! - killed!
        let duplicates = statuses.values.count { $0 == "duplicate" }
        print("""
            sentinel failover: switched \(failover) after the kill; then a new event accepted after \(accepted!), \
            the leaderboard showing it after \(read!), a display after \(shown!); \(resends) requests sent again, \(duplicates) events answered duplicate\
            \(acceptedAfterSwitch.map { "; the stream went on \($0) after the switch" } ?? "")
            """)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
