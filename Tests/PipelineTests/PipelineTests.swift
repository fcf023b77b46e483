import Foundation
import Redis
import TallyTesting
import Testing
import ZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// A field app's view of tally-ingestion and tally-scoring, run as real processes over a
/// real redis-server; the first tests once more over a three-master Redis Cluster.
@Suite(.serialized) struct PipelineTests {
    /// A minute ago, so that every event of a test falls in the same periods.
    let at = Date().addingTimeInterval(-60)

    /// A mixed day: every kind, reps with and without teams, deals of different sizes.
    func sampleEvents(prefix: String = "e") -> [Expected.Event] {
        let kinds = ["door_knock", "call", "email", "appointment", "demo", "proposal", "deal_won"]
        return (0..<42).map { i in
            let rep = "rep-\(i % 6)"
            let team: String? = i % 6 == 5 ? nil : "team-\(i % 3)"
            let kind = kinds[i % kinds.count]
            return Expected.Event(id: "\(prefix)\(i)", rep: rep, team: team, kind: kind, value: kind == "deal_won" ? Double(1000 * (i + 1)) + 0.5 : 1)
        }
    }

    func json(_ event: Expected.Event) -> String {
        eventJSON(id: event.id, rep: event.rep, name: "Name \(event.rep)", team: event.team, kind: event.kind,
                  value: event.kind == "deal_won" ? event.value : nil, at: rfc3339(at))
    }

    @Test(arguments: RedisDeployment.allCases)
    func reqClientSingleAndBatchedEventsLandOnEveryBoard(on deployment: RedisDeployment) throws {
        let stack = try TallyStack(deployment: deployment)
        try stack.startIngestion()
        try stack.startWorker()
        let app = try FieldApp(stack.endpoint)
        let events = sampleEvents()

        // The first ten one at a time, the rest in batches of eight.
        for event in events.prefix(10) {
            let reply = try #require(try app.request(json(event)), "\(stack.logs)")
            #expect(reply == Reply(ok: true, op: nil, results: [.init(id: event.id, status: "accepted", error: nil)], error: nil, retry_after_ms: nil))
        }
        for start in stride(from: 10, to: events.count, by: 8) {
            let batch = Array(events[start..<min(start + 8, events.count)])
            let reply = try #require(try app.request(batchJSON(batch.map(json))))
            #expect(reply.results?.map(\.status) == Array(repeating: "accepted", count: batch.count))
            #expect(reply.results?.map(\.id) == batch.map(\.id))
        }

        let redis = stack.redis.connection()
        #expect(try redis.allBoards() == Expected.boards(events, at: at))
        // Every board id of the default rules now exists, rolling windows included.
        let ids = Set((try redis.send("SMEMBERS", "{default}:boards").array ?? []).compactMap(\.string))
        let all = Set(Expected.metrics.flatMap { m in (Expected.calendarWindows + ["7d", "30d"]).flatMap { w in ["reps", "teams"].map { "\(m):\(w):\($0)" } } })
        #expect(ids == all)
        #expect(try redis.send("HGET", "{default}:names", "rep-3").string == "Name rep-3")
        #expect(try redis.send("HGET", "{default}:teams", "rep-4").string == "team-1")

        // SIGTERM: both exit cleanly.
        stack.ingestion!.signal(SIGTERM)
        stack.workers[0].signal(SIGTERM)
        #expect(stack.ingestion!.wait() == 0, "\(stack.logs)")
        #expect(stack.workers[0].wait() == 0, "\(stack.logs)")
    }

    @Test(arguments: RedisDeployment.allCases)
    func dealerClientWithAHundredRequestsInFlight(on deployment: RedisDeployment) throws {
        let stack = try TallyStack(deployment: deployment)
        try stack.startIngestion()
        try stack.startWorker()
        let dealer = try Socket(.dealer, options: [.receiveTimeout(milliseconds: 10_000)])
        try dealer.connect(stack.endpoint)

        var expected: [Expected.Event] = []
        for request in 0..<100 {
            let events = (0...(request % 3)).map { n in
                Expected.Event(id: "r\(request)-\(n)", rep: "rep-\(request % 10)", team: "team-\(request % 2)", kind: n == 2 ? "deal_won" : "call", value: n == 2 ? 250 : 1)
            }
            expected += events
            try dealer.send([Data(), Data(batchJSON(events.map(json)).utf8)])
        }
        var accepted: [String] = []
        for _ in 0..<100 {
            let frames = try #require(try dealer.receive(), "\(stack.logs)")
            #expect(frames.count == 2 && frames[0].isEmpty)
            let reply = try JSONDecoder().decode(Reply.self, from: frames[1])
            #expect(reply.ok)
            for result in reply.results ?? [] where result.status == "accepted" { accepted.append(result.id!) }
        }
        #expect(Set(accepted) == Set(expected.map(\.id)))
        #expect(accepted.count == expected.count)
        #expect(try stack.redis.connection().allBoards() == Expected.boards(expected, at: at))
    }

    @Test func theEventsTimeDecidesItsPeriodInTheOrgsZone() throws {
        let rules = [
            "berlin": "timezone: Europe/Berlin\nretention_days: 3650",
            "la": "timezone: America/Los_Angeles\nretention_days: 3650",
        ]
        let stack = try TallyStack(rules: rules)
        try stack.startIngestion()
        try stack.startWorker()
        let app = try FieldApp(stack.endpoint)
        let cases: [(org: String, at: String, periods: [String])] = [
            // 23:30 UTC is already tomorrow in Berlin.
            ("berlin", "2026-11-28T23:30:00Z", ["2026-11-29", "2026-W48", "2026-11", "2026-Q4", "2026"]),
            // Across the end of summer time (25 October 2026): 22:30 UTC is 00:30 CEST, then 23:30 CET.
            ("berlin", "2026-10-24T22:30:00Z", ["2026-10-25", "2026-W43", "2026-10", "2026-Q4", "2026"]),
            ("berlin", "2026-10-25T22:30:00Z", ["2026-10-25", "2026-W43", "2026-10", "2026-Q4", "2026"]),
            // Year end: 2026 begins at 23:00 UTC in Berlin, in week 1 of 2026.
            ("berlin", "2025-12-31T23:30:00Z", ["2026-01-01", "2026-W01", "2026-01", "2026-Q1", "2026"]),
            // 07:30 UTC is still yesterday in Los Angeles, and still 2025 on New Year's morning.
            ("la", "2026-11-29T07:30:00Z", ["2026-11-28", "2026-W48", "2026-11", "2026-Q4", "2026"]),
            ("la", "2026-01-01T07:30:00Z", ["2025-12-31", "2026-W01", "2025-12", "2025-Q4", "2025"]),
        ]
        let now = Date()
        for (index, item) in cases.enumerated() where Timestamp(item.at) <= now {
            let rep = "rep-\(index)"
            let reply = try #require(try app.request(eventJSON(id: "p\(index)", org: item.org, rep: rep, kind: "demo", at: item.at)))
            #expect(reply.results?.first?.status == "accepted", "\(reply)")
            let redis = stack.redis.connection()
            for (window, period) in zip(["today", "week", "month", "quarter", "year"], item.periods) {
                let key = "{\(item.org)}:board:points:\(window):reps:\(period)"
                #expect(try redis.send("ZSCORE", key, rep).double == 10, "\(item.at) → \(key)")
            }
        }

        // The default org (UTC): an event of yesterday lands on yesterday's board, not today's.
        let yesterday = now.addingTimeInterval(-86_400)
        let reply = try #require(try app.request(eventJSON(id: "y1", rep: "late-rep", kind: "call", at: rfc3339(yesterday))))
        #expect(reply.results?.first?.status == "accepted")
        let redis = stack.redis.connection()
        #expect(try redis.send("ZSCORE", "{default}:board:points:today:reps:\(Expected.periods(yesterday)["today"]!)", "late-rep").double == 1)
        #expect(try redis.send("ZSCORE", "{default}:board:points:today:reps:\(Expected.periods(now)["today"]!)", "late-rep") == .null)
    }

    @Test(arguments: RedisDeployment.allCases)
    func aRepeatedIDIsCountedOnce(on deployment: RedisDeployment) throws {
        let stack = try TallyStack(deployment: deployment)
        try stack.startIngestion()
        try stack.startWorker()
        let app = try FieldApp(stack.endpoint)
        let deal = eventJSON(id: "deal-1", rep: "ana", kind: "deal_won", value: 900, at: rfc3339(at))

        let first = try #require(try app.request(batchJSON([deal, deal, eventJSON(id: "call-1", rep: "ana", kind: "call", at: rfc3339(at))])))
        #expect(first.results?.map(\.status) == ["accepted", "duplicate", "accepted"])
        let again = try #require(try app.request(deal))
        #expect(again.results?.map(\.status) == ["duplicate"])
        // A seen event between new ones: the new ones count (a batch with a duplicate is
        // applied event by event, after the summed attempt took its records back).
        let call = { (id: String) in eventJSON(id: id, rep: "ana", kind: "call", at: rfc3339(self.at)) }
        let mixed = try #require(try app.request(batchJSON([call("call-2"), deal, call("call-3")])))
        #expect(mixed.results?.map(\.status) == ["accepted", "duplicate", "accepted"])

        let redis = stack.redis.connection()
        let today = Expected.periods(at)["today"]!
        #expect(try redis.send("ZSCORE", "{default}:board:points:today:reps:\(today)", "ana").double == 53)
        #expect(try redis.send("ZSCORE", "{default}:board:deals:today:reps:\(today)", "ana").double == 1)
        #expect(try redis.send("ZSCORE", "{default}:board:revenue:all:reps:all", "ana").double == 900)
    }

    @Test func theSummedAndTheEventByEventScriptsLeaveTheSameBoards() throws {
        // Two orgs get the same events in one request each. The second request repeats its
        // first event at the end: a duplicate sends that batch through the event-by-event
        // script, while the first takes the summed one. Every key must then hold the same data.
        let stack = try TallyStack()
        try stack.startIngestion()
        try stack.startWorker()
        let app = try FieldApp(stack.endpoint)
        let events = sampleEvents()
        func lines(_ org: String) -> [String] {
            events.map { event in
                eventJSON(id: event.id, org: org, rep: event.rep, name: "Name \(event.rep)", team: event.team, kind: event.kind,
                          value: event.kind == "deal_won" ? event.value : nil, at: rfc3339(at))
            }
        }
        let summed = try #require(try app.request(batchJSON(lines("summed"))), "\(stack.logs)")
        #expect(summed.results?.map(\.status) == Array(repeating: "accepted", count: events.count))
        let byEvent = try #require(try app.request(batchJSON(lines("by-event") + [lines("by-event")[0]])))
        #expect(byEvent.results?.map(\.status) == Array(repeating: "accepted", count: events.count) + ["duplicate"])

        let redis = stack.redis.connection()
        func contents(_ org: String) throws -> [String: String] {
            var contents: [String: String] = [:]
            for key in (try redis.send("KEYS", "{\(org)}:*").array ?? []).compactMap(\.string) where key != "{\(org)}:seq" {
                let name = String(key.dropFirst("{\(org)}:".count))
                let expires = try redis.send("TTL", key).int ?? -2 > 0 ? " (expires)" : ""
                switch try redis.send("TYPE", key).string {
                case "zset":
                    contents[name] = "\(try redis.send("ZRANGE", key, "0", "-1", "WITHSCORES"))" + expires
                case "hash":
                    let pairs = (try redis.send("HGETALL", key).array ?? []).compactMap(\.string)
                    contents[name] = stride(from: 0, to: pairs.count, by: 2).map { "\(pairs[$0])=\(pairs[$0 + 1])" }.sorted().joined(separator: ",") + expires
                case "set":
                    contents[name] = (try redis.send("SMEMBERS", key).array ?? []).compactMap(\.string).sorted().joined(separator: ",") + expires
                case "stream":
                    // The activity log: the entries, in order, without their ids (times of writing).
                    let entries = (try redis.send("XRANGE", key, "-", "+").array ?? []).compactMap { $0.array?.last }
                    contents[name] = "\(entries)" + expires
                case _ where name.hasPrefix("seen:"):
                    // An idempotency record names its log entry by id: that it exists is what counts.
                    contents[name] = "seen" + expires
                default:
                    contents[name] = "\(try redis.send("GET", key))" + expires
                }
            }
            return contents
        }
        let one = try contents("summed")
        #expect(one.count > events.count + 40)  // seen records, boards, reached, names, teams, index
        #expect(one == (try contents("by-event")))
    }

    @Test func badInputIsRefusedByFieldAndTheServicesKeepServing() throws {
        let stack = try TallyStack()
        try stack.startIngestion()
        try stack.startWorker()
        let app = try FieldApp(stack.endpoint)
        let old = rfc3339(Date().addingTimeInterval(-401 * 86_400))
        let batch = batchJSON([
            eventJSON(id: "good-1", rep: "ana", kind: "demo", at: rfc3339(at)),
            eventJSON(id: "bad-kind", rep: "ana", kind: "dance", at: rfc3339(at)),
            eventJSON(id: "bad-value", rep: "ana", kind: "deal_won", value: -3, at: rfc3339(at)),
            eventJSON(id: "bad-old", rep: "ana", kind: "call", at: old),
            eventJSON(id: "bad-rep", rep: "ana smith", kind: "call", at: rfc3339(at)),
            eventJSON(id: "good-2", rep: "bo", kind: "call", at: rfc3339(at)),
        ])
        let reply = try #require(try app.request(batch), "\(stack.logs)")
        #expect(reply.ok)
        #expect(reply.results == [
            .init(id: "good-1", status: "accepted", error: nil),
            .init(id: "bad-kind", status: "rejected", error: "kind: unknown activity kind 'dance'"),
            .init(id: "bad-value", status: "rejected", error: "value: must be finite and between 0 and 1e12"),
            .init(id: "bad-old", status: "rejected", error: "at: is older than the retention of 400 days"),
            .init(id: "bad-rep", status: "rejected", error: "rep: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -"),
            .init(id: "good-2", status: "accepted", error: nil),
        ])

        #expect(try app.request("not json") == Reply(ok: false, op: nil, results: nil, error: "request: not valid JSON", retry_after_ms: nil))
        #expect(try app.request(Data([0x7b, 0xc3, 0x28, 0x7d]))?.error == "request: not valid UTF-8")
        #expect(try app.request("[]")?.error == "request: must be a JSON object: an event, or {\"events\": [...]}")

        // Over 1 MiB: the socket refuses it and drops that connection; no reply comes.
        let huge = try Socket(.dealer, options: [.linger(milliseconds: 0)])
        try huge.connect(stack.endpoint)
        try huge.send([Data(), Data(repeating: 0x20, count: (1 << 20) + 10)])

        // Everything still answers, and the good events were counted exactly once.
        let after = try FieldApp(stack.endpoint)
        #expect(try after.request(#"{"op":"ping"}"#) == Reply(ok: true, op: "pong", results: nil, error: nil, retry_after_ms: nil))
        #expect(try after.request(eventJSON(id: "good-3", rep: "bo", kind: "call", at: rfc3339(at)))?.results?.first?.status == "accepted")
        let redis = stack.redis.connection()
        #expect(try redis.board("{default}:board:points:all:reps:all") == ["ana": 10, "bo": 2])
        #expect(stack.ingestion!.isRunning && stack.workers[0].isRunning)
    }

    @Test func twoWorkersShareTheLoad() throws {
        let stack = try TallyStack()
        try stack.startIngestion()
        try stack.startWorker()
        try stack.startWorker()
        let app = try FieldApp(stack.endpoint)
        for i in 0..<40 {
            let reply = try #require(try app.request(eventJSON(id: "s\(i)", rep: "rep-\(i % 4)", kind: "call", at: rfc3339(at))))
            #expect(reply.results?.first?.status == "accepted")
        }
        for worker in stack.workers {
            #expect(worker.output.contains("batch applied"), "\(stack.logs)")
        }
        #expect(try stack.redis.connection().board("{default}:board:points:all:reps:all") == ["rep-0": 10, "rep-1": 10, "rep-2": 10, "rep-3": 10])
    }

    @Test func noWorkerMeansUnavailableThenSuccessOnceOneStarts() throws {
        let stack = try TallyStack(unavailableAfterMs: 500)
        try stack.startIngestion()
        let app = try FieldApp(stack.endpoint)
        let event = eventJSON(id: "w1", rep: "ana", kind: "appointment", at: rfc3339(at))

        let refused = try #require(try app.request(event))
        #expect(refused.ok == false)
        #expect(refused.error == "unavailable")
        #expect((refused.retry_after_ms ?? 0) > 0)

        try stack.startWorker()
        #expect(try app.request(event)?.results?.first?.status == "accepted")
        #expect(try stack.redis.connection().send("ZSCORE", "{default}:board:appointments:all:reps:all", "ana").double == 1)
    }
}

/// Milliseconds since 1970 of RFC 3339 text, for comparing with now.
private func Timestamp(_ text: String) -> Date {
    try! Date(text, strategy: .iso8601)
}
