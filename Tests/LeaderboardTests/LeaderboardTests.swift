import Foundation
import Hummingbird
import HummingbirdTesting
import Leaderboard
import Logging
import Redis
import TallyTesting
import Testing
import ZeroMQ

/// The SPEC's answer shapes, written out here independently of the service's own types.
struct Page: Decodable, Equatable {
    struct Row: Decodable, Equatable {
        let rank: Int
        let member: String
        let name: String
        let score: Double
    }
    let board: String
    let period: String
    let total: Int
    let entries: [Row]
}

struct RankAnswer: Decodable, Equatable {
    let board: String
    let period: String
    let member: String
    let rank: Int
    let score: Double
    let total: Int
}

func row(_ rank: Int, _ member: String, _ score: Double, name: String? = nil) -> Page.Row {
    Page.Row(rank: rank, member: member, name: name ?? member, score: score)
}

/// A scored sales floor, fed through the real ingestion and scoring, and a leaderboard over it.
final class Floor: @unchecked Sendable {
    // `@unchecked`: built once in a test's set-up and then only read.
    let stack: TallyStack
    let zmqEndpoint = "tcp://127.0.0.1:\(freePort())"
    let now = Date()
    var today: [String: String] { periods(now.addingTimeInterval(-60)) }

    init(deployment: RedisDeployment = .single) throws {
        stack = try TallyStack(deployment: deployment)
        try stack.startIngestion()
        try stack.startWorker()
        let app = try FieldApp(stack.endpoint)
        let recent = rfc3339(now.addingTimeInterval(-60))
        // In this order, so that zed reaches 10 before bo, and bo before cy.
        let sends: [(String, String, String?, String?, String)] = [
            ("1", "ana", "Ana", nil, "proposal"),  // ana 15
            ("2", "zed", nil, nil, "demo"),  // zed 10
            ("3", "bo", nil, nil, "demo"),  // bo 10
            ("4", "cy", nil, nil, "appointment"),  // cy 5
            ("5", "di", nil, nil, "appointment"),  // di 5
            ("6", "cy", nil, nil, "appointment"),  // cy 10, the last to get there
            ("7", "ed", nil, nil, "call"),  // ed 1
        ]
        for (id, rep, name, team, kind) in sends {
            let reply = try app.request(eventJSON(id: id, rep: rep, name: name, team: team, kind: kind, at: recent))
            guard reply?.results?.first?.status == "accepted" else { throw TestSetupError("not accepted: \(String(describing: reply))\n\(stack.logs)") }
        }
        // Yesterday and eight days ago, for past periods and rolling windows.
        let older: [(String, String, String, TimeInterval)] = [
            ("y1", "ana", "call", 86_400), ("y2", "ed", "demo", 86_400), ("o1", "ana", "demo", 8 * 86_400),
        ]
        for (id, rep, kind, ago) in older {
            let reply = try app.request(eventJSON(id: id, rep: rep, kind: kind, at: rfc3339(now.addingTimeInterval(-ago - 60))))
            guard reply?.results?.first?.status == "accepted" else { throw TestSetupError("not accepted: \(String(describing: reply))") }
        }
        // The same rep id in another org.
        _ = try app.request(eventJSON(id: "x1", org: "other", rep: "ana", kind: "deal_won", value: 5, at: recent))
    }

    func configuration() -> LeaderboardConfiguration {
        var configuration = LeaderboardConfiguration()
        configuration.zmqEndpoint = zmqEndpoint
        configuration.httpHost = "127.0.0.1"
        configuration.httpPort = 0
        configuration.redis = stack.redis.configuration
        configuration.adminToken = "s3cret"
        configuration.openReads = true  // what reads answer is tested here; who may read, in AccessTests
        return configuration
    }

    func periods(_ date: Date) -> [String: String] { calendarPeriods(date) }
}


/// A REQ client of the leaderboard: sends a JSON request, returns the answer's fields.
func zmqClient(_ endpoint: String) throws -> (String) throws -> [String: Any] {
    let req = try Socket(.req, options: [.receiveTimeout(milliseconds: 10_000)])
    try req.connect(endpoint)
    return { json in
        try req.send(Data(json.utf8))
        let frames = try #require(try req.receive(), "no answer to \(json)")
        return try #require(try JSONSerialization.jsonObject(with: frames[0]) as? [String: Any])
    }
}

@Suite(.serialized) struct LeaderboardHTTPTests {
    let floor: Floor
    init() throws { floor = try Floor() }

    func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(buffer: response.body))
    }

    func error(_ response: TestResponse) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["error"] as? String
    }

    /// Once more on a three-master Redis Cluster: the same answers.
    @Test(arguments: RedisDeployment.allCases)
    func queriesOverHTTP(on deployment: RedisDeployment) async throws {
        let floor = deployment == .single ? self.floor : try Floor(deployment: deployment)
        let app = try buildLeaderboard(configuration: floor.configuration(), logger: Logger(label: "test"))
        let today = floor.today["today"]!
        try await app.test(.live) { client in
            // Competition ranks, and first-reached order among the 10s: zed, bo, cy.
            let top = try await client.execute(uri: "/v1/orgs/default/boards/points:today:reps", method: .get)
            #expect(top.status == .ok)
            #expect(try decode(Page.self, top) == Page(board: "points:today:reps", period: today, total: 6, entries: [
                row(1, "ana", 15, name: "Ana"), row(2, "zed", 10), row(2, "bo", 10), row(2, "cy", 10), row(5, "di", 5), row(6, "ed", 1),
            ]))

            // A page that starts inside a tie keeps the tie's ranks and order.
            let middle = try await client.execute(uri: "/v1/orgs/default/boards/points:today:reps?offset=2&limit=2", method: .get)
            #expect(try decode(Page.self, middle).entries == [row(2, "bo", 10), row(2, "cy", 10)])

            let past = try await client.execute(uri: "/v1/orgs/default/boards/points:today:reps?offset=10", method: .get)
            #expect(try decode(Page.self, past) == Page(board: "points:today:reps", period: today, total: 6, entries: []))

            let tooMany = try await client.execute(uri: "/v1/orgs/default/boards/points:today:reps?limit=1001", method: .get)
            #expect(tooMany.status == .badRequest)
            #expect(error(tooMany) == "limit: must be a whole number from 1 to 1000")

            // Nobody has a team: the teams board is empty, not missing.
            let empty = try await client.execute(uri: "/v1/orgs/default/boards/points:today:teams", method: .get)
            #expect(try decode(Page.self, empty) == Page(board: "points:today:teams", period: today, total: 0, entries: []))

            let unknown = try await client.execute(uri: "/v1/orgs/default/boards/karma:today:reps", method: .get)
            #expect(unknown.status == .notFound)

            let badPeriod = try await client.execute(uri: "/v1/orgs/default/boards/points:week:reps?period=2026-11-29", method: .get)
            #expect(badPeriod.status == .badRequest)
            #expect(error(badPeriod) == "period: '2026-11-29' is not a week period (e.g. 2026-W48)")

            let rank = try await client.execute(uri: "/v1/orgs/default/boards/points:today:reps/members/cy", method: .get)
            #expect(try decode(RankAnswer.self, rank) == RankAnswer(board: "points:today:reps", period: today, member: "cy", rank: 2, score: 10, total: 6))
            let absent = try await client.execute(uri: "/v1/orgs/default/boards/points:today:reps/members/nobody", method: .get)
            #expect(absent.status == .notFound)

            // Around pads at both edges so there are always 2n+1 entries when the board has them.
            func around(_ member: String) async throws -> [String] {
                let response = try await client.execute(uri: "/v1/orgs/default/boards/points:today:reps/members/\(member)/around?n=1", method: .get)
                return try decode(Page.self, response).entries.map(\.member)
            }
            #expect(try await around("ana") == ["ana", "zed", "bo"])
            #expect(try await around("bo") == ["zed", "bo", "cy"])
            #expect(try await around("ed") == ["cy", "di", "ed"])
        }
    }

    @Test func pastPeriodsAndRollingWindows() async throws {
        let app = try buildLeaderboard(configuration: floor.configuration(), logger: Logger(label: "test"))
        let yesterday = floor.periods(floor.now.addingTimeInterval(-86_400 - 60))
        let lastWeek = floor.periods(floor.now.addingTimeInterval(-8 * 86_400 - 60))
        let recent = floor.today
        try await app.test(.live) { client in
            let day = try await client.execute(uri: "/v1/orgs/default/boards/points:today:reps?period=\(yesterday["today"]!)", method: .get)
            #expect(try decode(Page.self, day).entries == [row(1, "ed", 10), row(2, "ana", 1, name: "Ana")])

            // Last week's board holds the event from eight days ago, plus whatever of the
            // recent events fell in that same week.
            let week = try await client.execute(uri: "/v1/orgs/default/boards/points:week:reps?period=\(lastWeek["week"]!)", method: .get)
            var expectedAna = 10.0
            if yesterday["week"] == lastWeek["week"] { expectedAna += 1 }
            if recent["week"] == lastWeek["week"] { expectedAna += 15 }
            let weekPage = try decode(Page.self, week)
            #expect(weekPage.period == lastWeek["week"])
            #expect(weekPage.entries.first { $0.member == "ana" }?.score == expectedAna)

            // 7 days: today and yesterday, not eight days ago; 30 days: all three.
            let seven = try decode(Page.self, try await client.execute(uri: "/v1/orgs/default/boards/points:7d:reps", method: .get))
            #expect(seven.entries.prefix(2) == [row(1, "ana", 16, name: "Ana"), row(2, "ed", 11)])
            let thirty = try decode(Page.self, try await client.execute(uri: "/v1/orgs/default/boards/points:30d:reps", method: .get))
            #expect(thirty.entries.first == row(1, "ana", 26, name: "Ana"))
            #expect(thirty.total == 6)
        }
    }

    @Test func orgsAreIsolatedAndAdminWritesNeedTheToken() async throws {
        let app = try buildLeaderboard(configuration: floor.configuration(), logger: Logger(label: "test"))
        try await app.test(.live) { client in
            let other = try decode(Page.self, try await client.execute(uri: "/v1/orgs/other/boards/points:today:reps", method: .get))
            #expect(other.entries == [row(1, "ana", 50)])

            let boards = try await client.execute(uri: "/v1/orgs/default/boards", method: .get)
            let ids = (try JSONSerialization.jsonObject(with: Data(buffer: boards.body)) as? [String: Any])?["boards"] as? [String]
            #expect(ids?.contains("points:7d:reps") == true)
            #expect(ids?.contains("deals:today:reps") == false)  // nobody won a deal in the default org

            let member = try await client.execute(uri: "/v1/orgs/default/members/ana", method: .get)
            let standings = (try JSONSerialization.jsonObject(with: Data(buffer: member.body)) as? [String: Any])?["boards"] as? [[String: Any]] ?? []
            let onToday = standings.first { $0["board"] as? String == "points:today:reps" }
            #expect(onToday?["rank"] as? Int == 1)

            let body = ByteBuffer(string: #"{"name": "Zed Zhou", "team": "north"}"#)
            let none = try await client.execute(uri: "/v1/orgs/default/reps/zed", method: .put, body: body)
            #expect(none.status == .unauthorized)
            #expect(none.headers[.wwwAuthenticate] == #"Bearer realm="tally""#)
            let wrong = try await client.execute(uri: "/v1/orgs/default/reps/zed", method: .put, headers: [.authorization: "Bearer nope"], body: body)
            #expect(wrong.status == .unauthorized)
            let right = try await client.execute(uri: "/v1/orgs/default/reps/zed", method: .put, headers: [.authorization: "Bearer s3cret"], body: body)
            #expect(right.status == .ok)
            let top = try decode(Page.self, try await client.execute(uri: "/v1/orgs/default/boards/points:today:reps?limit=2", method: .get))
            #expect(top.entries == [row(1, "ana", 15, name: "Ana"), row(2, "zed", 10, name: "Zed Zhou")])

            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"tally_requests_total{op="top",transport="http",outcome="ok"}"#))
        }
    }

    /// An org that is not `[a-z0-9-]{1,64}` is refused by every operation on both transports
    /// (one with `}` would break the keys' hash tag): `PUT /v1/orgs/a%7Db/reps/x` answered 200.
    @Test func everyOperationChecksItsOrg() async throws {
        let app = try buildLeaderboard(configuration: floor.configuration(), logger: Logger(label: "test"))
        let endpoint = floor.zmqEndpoint
        let refusal = "org: must be 1 to 64 characters of a-z, 0-9 and -"
        let admin: HTTPFields = [.authorization: "Bearer s3cret"]
        try await app.test(.live) { client in
            let requests: [(String, HTTPRequest.Method, ByteBuffer?)] = [
                ("/v1/orgs/a%7Db/reps/x", .put, ByteBuffer(string: #"{"name": "X"}"#)),
                ("/v1/orgs/a%7Db/boards", .get, nil),
                ("/v1/orgs/a%7Db/boards/points:today:reps", .get, nil),
                ("/v1/orgs/a%7Db/boards/points:today:reps/members/x", .get, nil),
                ("/v1/orgs/a%7Db/members/x", .get, nil),
                ("/v1/orgs/a%7Db/contests", .get, nil),
                ("/v1/orgs/a%7Db/contests/c1", .get, nil),
                ("/v1/orgs/a%7Db/contests/c1/end", .post, nil),
                ("/v1/orgs/a%7Db/contests/c1", .delete, nil),
                ("/v1/orgs/Default/contests", .post, ByteBuffer(string: #"{"id": "c1"}"#)),
            ]
            for (uri, method, body) in requests {
                let response = try await client.execute(uri: uri, method: method, headers: admin, body: body)
                #expect(response.status == .badRequest, "\(method) \(uri)")
                let error = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["error"] as? String
                #expect(error == refusal, "\(method) \(uri)")
            }
            let ask = try zmqClient(endpoint)
            let bodies = [
                #"{"op": "rep.put", "rep": "x", "name": "X"}"#, #"{"op": "boards"}"#, #"{"op": "member", "member": "x"}"#,
                #"{"op": "top", "board": "points:today:reps"}"#, #"{"op": "contest.list"}"#, #"{"op": "contest.get", "id": "c1"}"#,
            ]
            for body in bodies {
                var request = try JSONSerialization.jsonObject(with: Data(body.utf8)) as! [String: Any]
                request["org"] = "a}b"
                request["token"] = "s3cret"
                let answer = try ask(String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self))
                #expect(answer["error"] as? String == refusal, "\(body)")
            }
        }
    }

    /// An error names what was wrong by quoting at most 64 characters of it, however long it was.
    @Test func anErrorQuotesAtMost64CharactersOfWhatWasSent() async throws {
        let app = try buildLeaderboard(configuration: floor.configuration(), logger: Logger(label: "test"))
        let endpoint = floor.zmqEndpoint
        let long = String(repeating: "b", count: 100_000)
        try await app.test(.live) { client in
            let response = try await client.execute(uri: "/v1/orgs/default/boards/\(long.prefix(10_000))", method: .get)  // a long URI, within HTTP's header limit
            let error = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["error"] as? String
            #expect(error?.hasPrefix("board: unknown board '\(String(repeating: "b", count: 64))…'") == true)
            #expect((error?.count ?? .max) < 200)

            let ask = try zmqClient(endpoint)
            for body in [#"{"op": "\#(long)"}"#, #"{"op": "rank", "board": "points:today:reps", "member": "\#(long)"}"#,
                         #"{"op": "top", "board": "points:week:reps", "period": "\#(long)"}"#, #"{"op": "contest.get", "id": "\#(long)"}"#] {
                let error = try ask(body)["error"] as? String
                #expect(error?.contains(String(repeating: "b", count: 64) + "…") == true, "\(error?.prefix(80) ?? "no error")")
                #expect((error?.count ?? .max) < 200)
            }
        }
    }

    /// One client's flood over ZeroMQ becomes at most --zmq-concurrency tasks (and Redis calls)
    /// at once; the rest wait unread, and every request is still answered.
    @Test func aFloodOfRequestsIsServedABoundedNumberAtATime() async throws {
        var configuration = floor.configuration()
        configuration.zmqConcurrency = 8
        let app = try buildLeaderboard(configuration: configuration, logger: Logger(label: "test"))
        let endpoint = floor.zmqEndpoint
        let stack = floor.stack
        try await app.test(.live) { client in
            let dealer = try Socket(.dealer, options: [.receiveTimeout(milliseconds: 10_000)])
            try dealer.connect(endpoint)
            // Redis holds every command for 1.5 s: requests served as tasks wait on it.
            try stack.redis.connection().send("CLIENT", "PAUSE", "1500", "ALL")
            for _ in 0..<100 { try dealer.send([Data(), Data(#"{"op": "contest.list"}"#.utf8)]) }
            try await Task.sleep(for: .milliseconds(700))
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("tally_zmq_requests_in_flight ") }
            #expect(line.flatMap { Double($0.split(separator: " ")[1]) } == 8, "\(line ?? "no gauge")")
            var answered = 0
            while answered < 100, let frames = try dealer.receive() {
                let answer = try JSONSerialization.jsonObject(with: frames[1]) as? [String: Any]
                #expect(answer?["ok"] as? Bool == true)
                answered += 1
            }
            #expect(answered == 100)
        }
    }

    /// A read waiting on Redis holds up nothing else on the socket: a request sent after it
    /// that needs no Redis is answered first, and the read once Redis answers.
    @Test func aReadWaitingOnRedisHoldsUpNoOtherRequest() async throws {
        let app = try buildLeaderboard(configuration: floor.configuration(), logger: Logger(label: "test"))
        let endpoint = floor.zmqEndpoint
        let stack = floor.stack
        try await app.test(.live) { _ in
            let top = #"{"op": "top", "board": "points:today:reps", "limit": 2}"#
            #expect(try zmqClient(endpoint)(top)["ok"] as? Bool == true)  // the socket's Redis connection is made
            let dealer = try Socket(.dealer, options: [.receiveTimeout(milliseconds: 10_000)])
            try dealer.connect(endpoint)
            // Redis holds every command for 700 ms (within the socket's 1 s command timeout).
            try stack.redis.connection().send("CLIENT", "PAUSE", "700", "ALL")
            try dealer.send([Data(), Data(top.utf8)])
            try await Task.sleep(for: .milliseconds(100))
            try dealer.send([Data(), Data(#"{"op": "top", "org": "Not An Org", "board": "points:today:reps"}"#.utf8)])

            let first = try #require(try dealer.receive(), "no answer")
            let refusal = try JSONSerialization.jsonObject(with: first[1]) as? [String: Any]
            #expect(refusal?["ok"] as? Bool == false, "the read was answered first: \(refusal ?? [:])")
            #expect((refusal?["error"] as? String)?.hasPrefix("org:") == true, "\(refusal ?? [:])")
            let second = try #require(try dealer.receive(), "no answer to the read")
            let page = try JSONDecoder().decode(Page.self, from: second[1])
            #expect(page.entries == [row(1, "ana", 15, name: "Ana"), row(2, "zed", 10)])
        }
    }

    @Test func whileRedisIsAwayEveryRequestIsAnsweredAndReadsComeBackAfter() async throws {
        let app = try buildLeaderboard(configuration: floor.configuration(), logger: Logger(label: "test"))
        let endpoint = floor.zmqEndpoint
        try await app.test(.live) { client in
            let ask = try zmqClient(endpoint)
            let top = #"{"op": "top", "board": "points:today:reps", "limit": 3}"#
            #expect(try ask(top)["ok"] as? Bool == true)

            try floor.stack.redis.connection().send("SAVE")  // so that the boards come back with it
            floor.stack.server.stop()
            // Reads answered on the socket's thread, twice (the second inside its retry pause),
            // and an operation served as a task: each gets an answer saying Redis is away.
            for json in [top, top, #"{"op": "contest.list"}"#] {
                let answer = try ask(json)
                #expect(answer["ok"] as? Bool == false)
                #expect((answer["error"] as? String)?.hasPrefix("redis connection:") == true, "\(answer)")
            }
            let http = try await client.execute(uri: "/v1/orgs/default/boards/points:today:reps", method: .get)
            #expect(http.status == .serviceUnavailable)

            try floor.stack.server.restart()
            var back: [String: Any] = [:]
            for _ in 0..<50 where back["ok"] as? Bool != true {
                back = try ask(top)
                if back["ok"] as? Bool != true { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect((back["entries"] as? [[String: Any]])?.map { $0["member"] as? String } == ["ana", "zed", "bo"])
        }
    }

    @Test func theSameOperationsOverZeroMQ() async throws {
        let app = try buildLeaderboard(configuration: floor.configuration(), logger: Logger(label: "test"))
        let endpoint = floor.zmqEndpoint
        try await app.test(.live) { _ in
            let ask = try zmqClient(endpoint)
            let top = try ask(#"{"op": "top", "org": "default", "board": "points:today:reps", "limit": 3}"#)
            #expect(top["ok"] as? Bool == true)
            #expect(top["total"] as? Int == 6)
            #expect((top["entries"] as? [[String: Any]])?.map { $0["member"] as? String } == ["ana", "zed", "bo"])

            let rank = try ask(#"{"op": "rank", "board": "points:today:reps", "member": "di"}"#)
            #expect(rank["rank"] as? Int == 5 && rank["score"] as? Double == 5)

            let missing = try ask(#"{"op": "rank", "board": "points:today:reps", "member": "nobody"}"#)
            #expect(missing["ok"] as? Bool == false)
            #expect((missing["error"] as? String)?.hasPrefix("member: 'nobody' is not on points:today:reps") == true)

            let noToken = try ask(#"{"op": "rep.put", "rep": "bo", "name": "Bo"}"#)
            #expect(noToken["error"] as? String == "token: is required: an organizer token of org 'default', or the admin token")
            let withToken = try ask(#"{"op": "rep.put", "rep": "bo", "name": "Bo", "token": "s3cret"}"#)
            #expect(withToken["ok"] as? Bool == true)

            let around = try ask(#"{"op": "around", "board": "points:today:reps", "member": "ed", "n": 1}"#)
            #expect((around["entries"] as? [[String: Any]])?.map { $0["member"] as? String } == ["cy", "di", "ed"])
            #expect((try ask(#"{"op": "boards"}"#)["boards"] as? [String])?.contains("points:today:reps") == true)
            let standing = try ask(#"{"op": "member", "member": "zed"}"#)
            #expect((standing["boards"] as? [[String: Any]])?.contains { $0["board"] as? String == "points:today:reps" && $0["rank"] as? Int == 2 } == true)

            // Contests over ZeroMQ: the definition goes in "contest", the token in "token".
            let contest = #"{"id": "z1", "name": "ZMQ cup", "metric": "points", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-02T00:00:00Z"}"#
            let created = try ask(#"{"op": "contest.create", "token": "s3cret", "contest": \#(contest)}"#)
            #expect(created["ok"] as? Bool == true && created["state"] as? String == "final")
            let conflict = try ask(#"{"op": "contest.create", "token": "s3cret", "contest": \#(contest)}"#)
            #expect(conflict["error"] as? String == "id: a contest 'z1' already exists in org 'default'")
            #expect(try ask(#"{"op": "contest.get", "id": "z1"}"#)["name"] as? String == "ZMQ cup")
            #expect((try ask(#"{"op": "contest.list", "state": "final"}"#)["contests"] as? [[String: Any]])?.count == 1)
            #expect(try ask(#"{"op": "contest.cancel", "id": "z1", "token": "s3cret"}"#)["error"] as? String == "contest: 'z1' is final and cannot be cancelled")

            #expect(try ask("not json")["error"] as? String == "request: must be a JSON object {\"op\": ..., ...}")
            #expect(try ask(#"{"op": "dance"}"#)["error"] as? String == "op: unknown operation 'dance'")
        }
    }
}
