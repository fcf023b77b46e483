import Foundation
import Redis
import TallyTesting
import Testing
import ZeroMQ

/// Corrections and the activity log against the real processes (ingestion, a worker,
/// notification, the leaderboard, closed to anonymous reads): over HTTP and ZeroMQ, with roles,
/// what displays and `_events` see. Default rules: deal_won 50 points, demo 10, revenue × value.
// `@unchecked Sendable`: each test gets its own instance and drives it from one task.
@Suite(.serialized) final class CorrectionTests: @unchecked Sendable {
    let admin = "admin-secret-for-tests"
    let stack: TallyStack
    let app: FieldApp
    let now = Date()

    init() throws {
        // Org `quiet` keeps no activity log; every other org has the default rules.
        stack = try TallyStack(rules: ["quiet": "log_days: 0"], openReads: false, adminToken: admin)
        try stack.startWithNotification()
        try stack.startLeaderboard()
        app = try FieldApp(stack.endpoint)
        // PUB/SUB drops what is published before the connection is up: give the leaderboard's
        // publisher a moment to reach notification.
        Thread.sleep(forTimeInterval: 1)
    }

    struct Answer {
        let status: Int
        let body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
        var error: String? { json["error"] as? String }
        /// "member=score" of a board page, best first.
        var lines: [String] {
            (json["entries"] as? [[String: Any]] ?? []).map { "\($0["member"] as? String ?? "")=\(Int($0["score"] as? Double ?? -1))" }
        }
    }

    func http(_ method: String, _ path: String, token: String? = nil, body: String? = nil) throws -> Answer {
        let (status, text) = try httpRequest(port: stack.leaderboardHTTPPort, method, path, token: token ?? admin, body: body)
        return Answer(status: status, body: text)
    }

    func mint(_ role: String) throws -> String {
        let answer = try http("POST", "/v1/orgs/default/tokens", body: #"{"role": "\#(role)", "name": "\#(role)"}"#)
        guard answer.status == 201, let token = answer.json["token"] as? String else { throw TestSetupError("no token: \(answer.body)") }
        return token
    }

    func send(_ id: String, _ rep: String, _ kind: String, value: Double? = nil, team: String? = nil, name: String? = nil, at: Date? = nil) throws -> String? {
        try app.request(eventJSON(id: id, rep: rep, name: name, team: team, kind: kind, value: value, at: rfc3339(at ?? now)))?.results?.first?.status
    }

    func board(_ board: String, period: String? = nil) throws -> [String] {
        try http("GET", "/v1/orgs/default/boards/\(board)" + (period.map { "?period=\($0)" } ?? "")).lines
    }

    /// A request to the leaderboard's ZeroMQ socket.
    func zmq(_ fields: [String: Any]) throws -> [String: Any] {
        let socket = try Socket(.req, options: [.receiveTimeout(milliseconds: 10_000), .linger(milliseconds: 0)])
        try socket.connect(stack.services.leaderboardEndpoint)
        try socket.send(try JSONSerialization.data(withJSONObject: fields))
        let frames = try #require(try socket.receive())
        return try #require(try JSONSerialization.jsonObject(with: frames[0]) as? [String: Any])
    }

    @Test func aRetractedDealLeavesEveryBoardTheContestAndTheDisplays() throws {
        let viewer = try mint("viewer")
        let organizer = try mint("organizer")
        let start = now.addingTimeInterval(-3600)
        let contest = #"{"id": "dec", "name": "December", "metric": "revenue", "starts_at": "\#(rfc3339(start))", "ends_at": "2099-01-01T00:00:00Z"}"#
        #expect(try http("POST", "/v1/orgs/default/contests", body: contest).status == 201)
        #expect(try http("PUT", "/v1/orgs/default/reps/k0", body: #"{"name": "Ana Alves"}"#).status == 200)
        let events = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: ["default/_events"])
        defer { Task { await events.close() } }
        let display = StreamClient(url: "ws://127.0.0.1:\(stack.notificationHTTPPort)/v1/stream?board=points:today:reps&token=\(viewer)")
        _ = try display.wait(for: "the snapshot") { $0.type == "snapshot" }
        Thread.sleep(forTimeInterval: 0.3)  // the subscription reaches notification

        // k0 closes a deal (no rep_name: the directory names it), bo gives a demo; both teams.
        #expect(try send("d1", "k0", "deal_won", value: 1000, team: "north") == "accepted")
        #expect(try send("m1", "bo", "demo", team: "south") == "accepted")
        _ = try display.wait(for: "both on the board") { $0.lines == ["k0=50", "bo=10"] }
        let deal = try events.wait(for: "the deal", topic: "default/_events") { $0.type == "deal" }
        #expect(deal.name == "Ana Alves" && deal.rep == "k0")
        let dealActivity = try events.wait(for: "the deal's activity", topic: "default/_events") { $0.type == "activity" && $0.id == "d1" }
        #expect(dealActivity.name == "Ana Alves" && dealActivity.kind == "deal_won")
        _ = try events.wait(for: "the demo's activity", topic: "default/_events") { $0.type == "activity" && $0.id == "m1" && $0.name == "bo" }
        #expect(try board("revenue:all:reps") == ["k0=1000"])
        let running = try http("GET", "/v1/orgs/default/contests/dec").json["standings"] as? [String: Any]
        #expect((running?["entries"] as? [[String: Any]])?.compactMap { $0["member"] as? String } == ["k0"], "\(String(describing: running))")

        // A viewer may read the event but not retract it; an organizer may.
        let got = try http("GET", "/v1/orgs/default/events/d1", token: viewer)
        #expect(got.status == 200)
        #expect(got.json["status"] as? String == "accepted" && got.json["name"] as? String == "Ana Alves")
        #expect(got.json["team"] as? String == "north" && got.json["value"] as? Double == 1000 && got.json["kind"] as? String == "deal_won")
        let refused = try http("DELETE", "/v1/orgs/default/events/d1", token: viewer)
        #expect(refused.status == 403 && refused.error?.hasPrefix("token:") == true)
        let retracted = try http("DELETE", "/v1/orgs/default/events/d1", token: organizer)
        #expect(retracted.status == 200, "\(retracted.body)")
        #expect(retracted.json["id"] as? String == "d1" && retracted.json["status"] as? String == "retracted")

        // Every window and scope, the team, the contest, and the display's next update lose it.
        _ = try display.wait(for: "the update without the deal") { $0.type == "update" && $0.lines == ["bo=10"] }
        for window in ["today", "week", "month", "quarter", "year", "all", "7d", "30d"] {
            #expect(try board("points:\(window):reps") == ["bo=10"], "points:\(window):reps")
            #expect(try board("revenue:\(window):reps") == [], "revenue:\(window):reps")
            #expect(try board("points:\(window):teams") == ["south=10"], "points:\(window):teams")
        }
        #expect(try board("deals:all:reps") == [])
        let standings = try http("GET", "/v1/orgs/default/contests/dec").json["standings"] as? [String: Any]
        #expect((standings?["entries"] as? [Any])?.isEmpty == true, "\(String(describing: standings))")
        let correction = try events.wait(for: "the correction", topic: "default/_events") { $0.type == "correction" }
        #expect(correction.id == "d1" && correction.rep == "k0" && correction.status == "retracted" && correction.name == "Ana Alves")

        // Again: the same answer, nothing changes; resent by the field app: duplicate.
        let again = try http("DELETE", "/v1/orgs/default/events/d1", token: organizer)
        #expect(again.status == 200 && again.json["status"] as? String == "retracted")
        #expect(try send("d1", "k0", "deal_won", value: 1000, team: "north") == "duplicate")
        #expect(try board("points:all:reps") == ["bo=10"])
        let record = try http("GET", "/v1/orgs/default/events/d1", token: viewer)
        #expect(record.json["status"] as? String == "retracted")
        #expect((record.json["history"] as? [[String: Any]])?.compactMap { $0["status"] as? String } == ["accepted", "retracted"])

        // Unknown ids: 404 on every operation.
        #expect(try http("GET", "/v1/orgs/default/events/nope").status == 404)
        #expect(try http("DELETE", "/v1/orgs/default/events/nope").status == 404)
        #expect(try http("PATCH", "/v1/orgs/default/events/nope", body: #"{"value": 3}"#).status == 404)
    }

    @Test func aPastPeriodsEventIsCorrectedInItsOwnPeriod() throws {
        let yesterday = now.addingTimeInterval(-86_400)
        let periods = calendarPeriods(yesterday)
        #expect(try send("y1", "ana", "demo", at: yesterday) == "accepted")
        #expect(try send("t1", "ana", "demo") == "accepted")
        #expect(try board("points:today:reps", period: periods["today"]) == ["ana=10"])
        #expect(try http("DELETE", "/v1/orgs/default/events/y1").status == 200)
        #expect(try board("points:today:reps", period: periods["today"]) == [])
        #expect(try board("points:today:reps") == ["ana=10"])
        #expect(try board("points:all:reps") == ["ana=10"])
    }

    @Test func amendmentsOverHTTPAndZeroMQAndTheActivityLog() throws {
        let organizer = try mint("organizer")
        for (id, rep, kind) in [("a1", "ana", "demo"), ("a2", "bo", "deal_won"), ("a3", "ana", "call"), ("a4", "cy", "demo")] {
            #expect(try send(id, rep, kind, value: kind == "deal_won" ? 500 : nil, team: "north") == "accepted")
        }
        let events = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: ["default/_events"])
        defer { Task { await events.close() } }
        Thread.sleep(forTimeInterval: 0.5)  // the subscription reaches notification
        // bo's deal was 50, and cy's; the team was south.
        let amended = try http("PATCH", "/v1/orgs/default/events/a2", token: organizer, body: #"{"value": 50, "rep": "cy", "team": "south"}"#)
        #expect(amended.status == 200, "\(amended.body)")
        #expect(amended.json["rep"] as? String == "cy" && amended.json["value"] as? Double == 50 && amended.json["status"] as? String == "amended")
        // points: ana 10 + 1, cy 10 + 50; revenue: cy 50.
        #expect(try board("points:all:reps") == ["cy=60", "ana=11"])
        #expect(try board("revenue:all:reps") == ["cy=50"])
        // Teams: north had ana 10 + 1 and cy 10 (a4); south has the deal's 50.
        #expect(try board("points:all:teams") == ["south=50", "north=21"])
        // `_events`: who it was (bo, named by his id: nothing names him), and the deal as now recorded.
        let correction = try events.wait(for: "the amendment", topic: "default/_events") { $0.type == "correction" && $0.id == "a2" }
        #expect(correction.rep == "bo" && correction.name == "bo" && correction.status == "amended")
        let recorded = try #require(correction.event)
        #expect(recorded.rep == "cy" && recorded.name == "cy" && recorded.kind == "deal_won" && recorded.value == 50 && recorded.feed, "\(recorded)")
        // Over ZeroMQ: ana's call was a demo.
        let zmqAmended = try zmq(["op": "event.amend", "token": organizer, "id": "a3", "changes": ["kind": "demo"]])
        #expect(zmqAmended["ok"] as? Bool == true && zmqAmended["kind"] as? String == "demo", "\(zmqAmended)")
        #expect(try board("points:all:reps") == ["cy=60", "ana=20"])
        let zmqGot = try zmq(["op": "event.get", "token": organizer, "id": "a3"])
        #expect(zmqGot["status"] as? String == "amended")
        let zmqRetracted = try zmq(["op": "event.retract", "token": organizer, "id": "a4"])
        #expect(zmqRetracted["status"] as? String == "retracted")
        #expect(try board("points:all:reps") == ["cy=50", "ana=20"])

        // The log: newest first, pages without overlap, filters on the events as now recorded.
        let first = try http("GET", "/v1/orgs/default/activity?limit=3")
        let firstIDs = (first.json["activity"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
        #expect(firstIDs == ["a4", "a3", "a2"], "\(first.body)")
        let next = try #require(first.json["next"] as? String)
        let second = try http("GET", "/v1/orgs/default/activity?limit=3&before=\(next)")
        #expect((second.json["activity"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["a1"])
        #expect(second.json["next"] is NSNull)
        let statuses = (first.json["activity"] as? [[String: Any]])?.compactMap { $0["status"] as? String }
        #expect(statuses == ["retracted", "amended", "amended"])
        let cy = try zmq(["op": "activity", "token": organizer, "rep": "cy"])
        #expect((cy["activity"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["a4", "a2"])
        let demos = try http("GET", "/v1/orgs/default/activity?kind=demo")
        #expect((demos.json["activity"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["a4", "a3", "a1"])

        // Bad input: the field named, 400, and the service keeps answering.
        for (method, path, body, field) in [
            ("GET", "/v1/orgs/default/activity?limit=0", nil, "limit:"),
            ("GET", "/v1/orgs/default/activity?limit=201", nil, "limit:"),
            ("GET", "/v1/orgs/default/activity?before=yesterday", nil, "before:"),
            ("GET", "/v1/orgs/default/activity?rep=a%20b", nil, "rep:"),
            ("PATCH", "/v1/orgs/default/events/a1", #"{"value": -1}"#, "value:"),
            ("PATCH", "/v1/orgs/default/events/a1", #"{"value": "ten"}"#, "value:"),
            ("PATCH", "/v1/orgs/default/events/a1", #"{"kind": "dance"}"#, "kind:"),
            ("PATCH", "/v1/orgs/default/events/a1", #"{"rep": "a b"}"#, "rep:"),
            ("PATCH", "/v1/orgs/default/events/a1", #"{"colour": "red"}"#, "colour: unknown field"),
            ("PATCH", "/v1/orgs/default/events/a1", #"{}"#, "changes:"),
            ("PATCH", "/v1/orgs/default/events/a1", #"[1]"#, "body:"),
            ("GET", "/v1/orgs/default/events/" + String(repeating: "x", count: 129), nil, "id:"),
        ] as [(String, String, String?, String)] {
            let answer = try http(method, path, body: body)
            #expect(answer.status == 400 && answer.error?.contains(field) == true, "\(path) \(body ?? ""): \(answer.status) \(answer.body)")
        }
        let retractedAmend = try http("PATCH", "/v1/orgs/default/events/a4", body: #"{"value": 3}"#)
        #expect(retractedAmend.status == 409 && retractedAmend.error?.hasPrefix("id:") == true)
        let noChanges = try zmq(["op": "event.amend", "token": organizer, "id": "a1"])
        #expect(noChanges["ok"] as? Bool == false && (noChanges["error"] as? String)?.hasPrefix("changes:") == true)
        #expect(try board("points:all:reps") == ["cy=50", "ana=20"])
    }

    @Test func anOrgWithoutALogCountsButShowsAndCorrectsNothing() throws {
        let reply = try app.request(eventJSON(id: "q1", org: "quiet", rep: "ana", kind: "demo", at: rfc3339(now)))
        #expect(reply?.results?.first?.status == "accepted")
        try wait("the demo counted") { try http("GET", "/v1/orgs/quiet/boards/points:all:reps").lines == ["ana=10"] }
        for method in ["GET", "DELETE"] {
            let answer = try http(method, "/v1/orgs/quiet/events/q1")
            #expect(answer.status == 404 && answer.error?.hasPrefix("id:") == true, "\(method): \(answer.body)")
        }
        #expect(try http("PATCH", "/v1/orgs/quiet/events/q1", body: #"{"value": 3}"#).status == 404)
        let activity = try http("GET", "/v1/orgs/quiet/activity")
        #expect(activity.status == 200 && (activity.json["activity"] as? [Any])?.isEmpty == true, "\(activity.body)")
        #expect(try http("GET", "/v1/orgs/quiet/boards/points:all:reps").lines == ["ana=10"])
        // Sent again, it is still a duplicate.
        #expect(try app.request(eventJSON(id: "q1", org: "quiet", rep: "ana", kind: "demo", at: rfc3339(now)))?.results?.first?.status == "duplicate")
    }

    @Test func correctionsRacingEachOtherAndAResendLeaveTheBoardsExact() throws {
        #expect(try send("r1", "ana", "deal_won", value: 100) == "accepted")
        #expect(try send("r2", "bo", "demo") == "accepted")
        let port = stack.leaderboardHTTPPort
        let admin = admin
        let endpoint = stack.endpoint
        // Four retractions and a field app resending the deal, all at once.
        let group = DispatchGroup()
        let answers = Locked<[String]>([])
        for index in 0..<5 {
            DispatchQueue.global().async(group: group) {
                let answer: String
                if index == 4 {
                    let resend = try? FieldApp(endpoint).request(eventJSON(id: "r1", rep: "ana", kind: "deal_won", value: 100, at: rfc3339(Date())))
                    answer = resend?.results?.first?.status ?? "no answer"
                } else {
                    answer = (try? httpRequest(port: port, "DELETE", "/v1/orgs/default/events/r1", token: admin)).map { "\($0.status)" } ?? "no answer"
                }
                answers.withLock { $0.append(answer) }
            }
        }
        group.wait()
        #expect(answers.withLock { $0 }.sorted() == ["200", "200", "200", "200", "duplicate"])
        #expect(try board("points:all:reps") == ["bo=10"])
        #expect(try board("revenue:all:reps") == [])
    }
}
