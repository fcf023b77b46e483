import Foundation
import TallyTesting
import Testing
import ZeroMQ

/// Quotas and attainment against the real processes (ingestion, a worker, notification, the
/// leaderboard, closed to anonymous reads), read as a client would: boards over HTTP and ZeroMQ,
/// a WebSocket display, and `_events`. Default rules (UTC): revenue is a deal's value, deals
/// counts deals; milestones 0.5, 1.0, 1.5.
// `@unchecked Sendable`: each test gets its own instance and drives it from one task.
@Suite(.serialized) final class AttainmentTests: @unchecked Sendable {
    let admin = "admin-secret-for-tests"
    let stack: TallyStack
    let app: FieldApp
    let now = Date()
    /// This month's and last month's labels in the org's time zone (UTC), and a moment of last month.
    let month: String
    let lastMonth: String
    let inLastMonth: Date

    init() throws {
        stack = try TallyStack(openReads: false, adminToken: admin)
        try stack.startWithNotification()
        try stack.startLeaderboard()
        app = try FieldApp(stack.endpoint)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let start = calendar.date(from: calendar.dateComponents([.year, .month], from: now))!
        inLastMonth = start.addingTimeInterval(-12 * 3600)
        func label(_ date: Date) -> String {
            let parts = calendar.dateComponents([.year, .month], from: date)
            return String(format: "%04d-%02d", parts.year!, parts.month!)
        }
        month = label(now)
        lastMonth = label(inLastMonth)
        // PUB/SUB drops what is published before the connection is up: give the publishers a
        // moment to reach notification.
        Thread.sleep(forTimeInterval: 1)
    }

    struct Answer {
        let status: Int
        let body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
        /// A board page's entries as "rank member score/target attainment" ("-" where absent).
        var rows: [String] { (json["entries"] as? [[String: Any]] ?? []).map(AttainmentTests.row) }
    }

    static func row(_ entry: [String: Any]) -> String {
        func number(_ key: String) -> String {
            guard let value = entry[key] as? Double else { return "-" }
            return value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        }
        return "\(number("rank")) \(entry["member"] as? String ?? "?") \(number("score"))/\(number("target")) \(number("attainment"))"
    }

    func http(_ method: String, _ path: String, token: String? = nil, body: String? = nil) throws -> Answer {
        let (status, text) = try httpRequest(port: stack.leaderboardHTTPPort, method, path, token: token ?? admin, body: body)
        return Answer(status: status, body: text)
    }

    func zmq(_ fields: [String: Any]) throws -> [String: Any] {
        let socket = try Socket(.req, options: [.receiveTimeout(milliseconds: 10_000), .linger(milliseconds: 0)])
        try socket.connect(stack.services.leaderboardEndpoint)
        try socket.send(try JSONSerialization.data(withJSONObject: fields))
        let frames = try #require(try socket.receive())
        return try #require(try JSONSerialization.jsonObject(with: frames[0]) as? [String: Any])
    }

    func mint(_ role: String) throws -> String {
        let answer = try http("POST", "/v1/orgs/default/tokens", body: #"{"role": "\#(role)", "name": "\#(role)"}"#)
        guard answer.status == 201, let token = answer.json["token"] as? String else { throw TestSetupError("no token: \(answer.body)") }
        return token
    }

    func quota(_ metric: String, _ window: String, _ scope: String, _ member: String, _ target: Double, period: String? = nil) -> String {
        let period = period.map { #", "period": "\#($0)""# } ?? ""
        return #"{"metric": "\#(metric)", "window": "\#(window)", "scope": "\#(scope)", "member": "\#(member)", "target": \#(target)\#(period)}"#
    }

    func put(_ quotas: [String]) throws {
        let answer = try http("PUT", "/v1/orgs/default/quotas", body: #"{"quotas": [\#(quotas.joined(separator: ", "))]}"#)
        #expect(answer.status == 200 && answer.json["saved"] as? Int == quotas.count, "\(answer.body)")
    }

    func send(_ id: String, _ rep: String, _ kind: String = "deal_won", value: Double? = nil, team: String? = nil, name: String? = nil, at: Date? = nil) throws {
        let status = try app.request(eventJSON(id: id, rep: rep, name: name, team: team, kind: kind, value: value, at: rfc3339(at ?? now)))?.results?.first?.status
        #expect(status == "accepted", "\(id): \(status ?? "no answer")")
    }

    func board(_ board: String, period: String? = nil) throws -> Answer {
        try http("GET", "/v1/orgs/default/boards/\(board)" + (period.map { "?period=\($0)" } ?? ""))
    }

    @Test func anAttainmentBoardRanksByScoreOverTargetAndFirstReachedFirstAmongEquals() throws {
        // di's default target is 10,000 but this month's own is 4,000; ed has no quota.
        try put([
            quota("revenue", "month", "reps", "ana", 20000), quota("revenue", "month", "reps", "bo", 10000),
            quota("revenue", "month", "reps", "cy", 5000), quota("revenue", "month", "reps", "di", 10000),
            quota("revenue", "month", "reps", "di", 4000, period: month),
        ])
        try send("d1", "ana", value: 10000, team: "north")  // 0.5, first to get there
        try send("d2", "bo", value: 5000, team: "north")  // 0.5, second
        try send("d3", "cy", value: 1000, team: "south")  // 0.2
        try send("d4", "di", value: 3000, team: "south")  // 0.75
        try send("d5", "ed", value: 7000, team: "south")  // no quota: not on the attainment board

        let attainment = try board("attainment:revenue:month:reps")
        #expect(attainment.status == 200, "\(attainment.body)")
        #expect(attainment.rows == ["1 di 3000/4000 0.75", "2 ana 10000/20000 0.5", "2 bo 5000/10000 0.5", "4 cy 1000/5000 0.2"])
        #expect(attainment.json["total"] as? Int == 4 && attainment.json["period"] as? String == month)
        // The metric's own boards carry target and attainment where the member has a quota for
        // that window; the year has none.
        #expect(try board("revenue:month:reps").rows == [
            "1 ana 10000/20000 0.5", "2 ed 7000/- -", "3 bo 5000/10000 0.5", "4 di 3000/4000 0.75", "5 cy 1000/5000 0.2",
        ])
        #expect(try board("revenue:year:reps").rows == [
            "1 ana 10000/- -", "2 ed 7000/- -", "3 bo 5000/- -", "4 di 3000/- -", "5 cy 1000/- -",
        ])

        // rank, over both transports; a member without a quota is not on the board.
        let bo = try http("GET", "/v1/orgs/default/boards/attainment:revenue:month:reps/members/bo")
        #expect(bo.status == 200 && AttainmentTests.row(bo.json) == "2 bo 5000/10000 0.5" && bo.json["total"] as? Int == 4, "\(bo.body)")
        #expect(try http("GET", "/v1/orgs/default/boards/attainment:revenue:month:reps/members/ed").status == 404)
        let top = try zmq(["op": "top", "token": admin, "board": "attainment:revenue:month:reps", "limit": 2])
        #expect((top["entries"] as? [[String: Any]] ?? []).map(AttainmentTests.row) == ["1 di 3000/4000 0.75", "2 ana 10000/20000 0.5"], "\(top)")
        let di = try zmq(["op": "rank", "token": admin, "board": "attainment:revenue:month:reps", "member": "di"])
        #expect(AttainmentTests.row(di) == "1 di 3000/4000 0.75", "\(di)")

        // Team quotas, put after the deals: north 15,000 of 30,000, south 11,000 of 4,000.
        try put([quota("revenue", "month", "teams", "north", 30000), quota("revenue", "month", "teams", "south", 4000)])
        #expect(try board("attainment:revenue:month:teams").rows == ["1 south 11000/4000 2.75", "2 north 15000/30000 0.5"])

        // A past period: last month's deal counts against ana's default target, not this month's.
        try send("p1", "ana", value: 4000, at: inLastMonth)
        #expect(try board("attainment:revenue:month:reps", period: lastMonth).rows == ["1 ana 4000/20000 0.2"])
        #expect(try board("attainment:revenue:month:reps").rows.first == "1 di 3000/4000 0.75")

        // No such board: an attainment board of a rolling window, of an unknown metric.
        let rolling = try board("attainment:revenue:7d:reps")
        #expect(rolling.status == 404 && (rolling.json["error"] as? String)?.contains("attainment") == true, "\(rolling.body)")
        #expect(try board("attainment:nope:month:reps").status == 404)
    }

    @Test func aQuotaChangedOrDeletedMovesTheRankingAndTheDisplaysNextUpdate() throws {
        let viewer = try mint("viewer")
        try put([quota("revenue", "month", "reps", "ana", 20000), quota("revenue", "month", "reps", "bo", 10000)])
        try send("d1", "ana", value: 10000, name: "Ana")  // 0.5
        try send("d2", "bo", value: 4000, name: "Bo")  // 0.4
        let display = StreamClient(url: "ws://127.0.0.1:\(stack.notificationHTTPPort)/v1/stream?board=attainment:revenue:month:reps&token=\(viewer)")
        let snapshot = try display.wait(for: "the snapshot") { $0.type == "snapshot" }
        #expect(snapshot.lines == ["ana=10000", "bo=4000"])
        #expect(snapshot.entries?.map(\.attainment) == [0.5, 0.4] && snapshot.entries?.map(\.target) == [20000, 10000])
        #expect(snapshot.entries?.map(\.name) == ["Ana", "Bo"])
        Thread.sleep(forTimeInterval: 0.3)  // the subscription reaches notification

        // bo's target drops to 5,000: 0.8, ahead of ana.
        try put([quota("revenue", "month", "reps", "bo", 5000)])
        let moved = try display.wait(for: "bo ahead") { $0.type == "update" && $0.lines == ["bo=4000", "ana=10000"] }
        #expect(moved.entries?.map(\.attainment) == [0.8, 0.5])
        #expect(try board("attainment:revenue:month:reps").rows == ["1 bo 4000/5000 0.8", "2 ana 10000/20000 0.5"])

        // This month's own target for bo, then deleted: back to the default.
        try put([quota("revenue", "month", "reps", "bo", 2000, period: month)])
        #expect(try board("attainment:revenue:month:reps").rows == ["1 bo 4000/2000 2", "2 ana 10000/20000 0.5"])
        #expect(try http("DELETE", "/v1/orgs/default/quotas/revenue/month/reps/bo?period=\(month)").status == 204)
        #expect(try board("attainment:revenue:month:reps").rows == ["1 bo 4000/5000 0.8", "2 ana 10000/20000 0.5"])

        // ana's quota deleted: off the attainment board and the display; her revenue entry has
        // no target any more.
        #expect(try http("DELETE", "/v1/orgs/default/quotas/revenue/month/reps/ana").status == 204)
        _ = try display.wait(for: "ana gone") { $0.type == "update" && $0.lines == ["bo=4000"] }
        #expect(try board("attainment:revenue:month:reps").rows == ["1 bo 4000/5000 0.8"])
        #expect(try board("revenue:month:reps").rows == ["1 ana 10000/- -", "2 bo 4000/5000 0.8"])
        // Deleting it again: not found.
        #expect(try http("DELETE", "/v1/orgs/default/quotas/revenue/month/reps/ana").status == 404)
    }

    @Test func milestonesAreAnnouncedOnceEachOnTheWayUp() throws {
        let events = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: ["default/_events"])
        defer { Task { await events.close() } }
        // fay needs 4 deals this month, her team north 6.
        try put([quota("deals", "month", "reps", "fay", 4), quota("deals", "month", "teams", "north", 6)])
        #expect(try http("PUT", "/v1/orgs/default/reps/fay", body: #"{"name": "Fay Ng"}"#).status == 200)
        Thread.sleep(forTimeInterval: 0.3)  // the subscription reaches notification

        // One deal per request, so each is its own batch: fay passes 0.5 at 2 deals, 1.0 at 4,
        // 1.5 at 6; north 0.5 at 3, 1.0 at 6.
        for n in 1...6 { try send("f\(n)", "fay", team: "north") }
        // Taken back and made good again: 1.25, then 1.5 again, which is not news twice.
        #expect(try http("DELETE", "/v1/orgs/default/events/f6").status == 200)
        try send("f7", "fay", team: "north")
        // Everything before gus's demo on the same socket has arrived once it has.
        try send("g1", "gus", "demo")
        _ = try events.wait(for: "gus's demo", topic: "default/_events") { $0.type == "activity" && $0.id == "g1" }

        let milestones = events.messages(topic: "default/_events").filter { $0.type == "milestone" }
        let seen = milestones.map { "\($0.board ?? "") \($0.member ?? "") \($0.name ?? "") \($0.milestone ?? -1) \($0.attainment ?? -1) \($0.period ?? "")" }
        // Within one batch the order of boards is not part of the contract.
        #expect(seen.sorted() == [
            "attainment:deals:month:reps fay Fay Ng 0.5 0.5 \(month)",
            "attainment:deals:month:teams north north 0.5 0.5 \(month)",
            "attainment:deals:month:reps fay Fay Ng 1.0 1.0 \(month)",
            "attainment:deals:month:reps fay Fay Ng 1.5 1.5 \(month)",
            "attainment:deals:month:teams north north 1.0 1.0 \(month)",
        ].sorted())
        #expect(try board("attainment:deals:month:reps").rows == ["1 fay 6/4 1.5"])
        #expect(try board("attainment:deals:month:teams").rows == ["1 north 6/6 1"])
    }
}
