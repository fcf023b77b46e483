import Foundation
import Redis
import TallyTesting
import Testing
import ZeroMQ

/// Quotas against the real tally-leaderboard process, closed to anonymous reads, over HTTP and
/// ZeroMQ: put, list and delete, refusals that save nothing, roles, and the org's version (the
/// read cache's) moving with every write. Default rules: metrics points, revenue, deals, doors,
/// appointments.
// `@unchecked Sendable`: each test gets its own instance and drives it from one task.
@Suite(.serialized) final class QuotaTests: @unchecked Sendable {
    let admin = "admin-secret-for-tests"
    private(set) var stack: TallyStack!

    func start(on deployment: RedisDeployment = .single) throws {
        stack = try TallyStack(openReads: false, adminToken: admin, deployment: deployment)
        try stack.startLeaderboard()
    }

    struct Answer {
        let status: Int
        let body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
        var error: String? { json["error"] as? String }
        /// Each listed quota as `metric:window:scope member period=target`.
        var quotas: [String] { QuotaTests.lines(json) }
    }

    static func lines(_ answer: [String: Any]) -> [String] {
        (answer["quotas"] as? [[String: Any]] ?? []).map { quota in
            let period = quota["period"] as? String ?? "*"
            let target = quota["target"] as? Double ?? -1
            return "\(quota["metric"] ?? ""):\(quota["window"] ?? ""):\(quota["scope"] ?? "") \(quota["member"] ?? "") \(period)=\(target)"
        }
    }

    func http(_ method: String, _ path: String, token: String?, body: String? = nil) throws -> Answer {
        let (status, text) = try httpRequest(port: stack.leaderboardHTTPPort, method, path, token: token, body: body)
        return Answer(status: status, body: text)
    }

    func mint(_ org: String, _ role: String) throws -> String {
        let answer = try http("POST", "/v1/orgs/\(org)/tokens", token: admin, body: #"{"role": "\#(role)", "name": "\#(role)"}"#)
        guard answer.status == 201, let token = answer.json["token"] as? String else { throw TestSetupError("no token: \(answer.body)") }
        return token
    }

    func zmq(_ fields: [String: Any]) throws -> [String: Any] {
        let socket = try Socket(.req, options: [.receiveTimeout(milliseconds: 10_000), .linger(milliseconds: 0)])
        try socket.connect(stack.services.leaderboardEndpoint)
        try socket.send(try JSONSerialization.data(withJSONObject: fields))
        let frames = try #require(try socket.receive())
        return try #require(try JSONSerialization.jsonObject(with: frames[0]) as? [String: Any])
    }

    /// The org's version, as the read cache sees it.
    func version(_ org: String = "acme") throws -> Int {
        try stack.redis.connection().send("GET", "{\(org)}:seq").string.flatMap { Int($0) } ?? 0
    }

    /// Every quota key the org has in Redis: the index and the boards' hashes it names.
    func storedQuotaKeys(_ org: String = "acme") throws -> [String] {
        let connection = stack.redis.connection()
        let boards = try connection.send("SMEMBERS", "{\(org)}:quotas").array?.compactMap(\.string) ?? []
        var keys = boards.isEmpty ? [] : ["{\(org)}:quotas"]
        for board in ["revenue:month:reps", "revenue:month:teams", "deals:week:reps", "doors:today:reps"] + boards {
            if try connection.send("EXISTS", "{\(org)}:quota:\(board)").int == 1 { keys.append("{\(org)}:quota:\(board)") }
        }
        return Array(Set(keys)).sorted()
    }

    static func entry(_ metric: String, _ window: String, _ scope: String, _ member: String, _ target: Any, period: String? = nil) -> String {
        let period = period.map { #", "period": "\#($0)""# } ?? ""
        return #"{"metric": "\#(metric)", "window": "\#(window)", "scope": "\#(scope)", "member": "\#(member)", "target": \#(target)\#(period)}"#
    }

    static func body(_ entries: [String]) -> String { #"{"quotas": [\#(entries.joined(separator: ", "))]}"# }

    @Test(arguments: RedisDeployment.allCases)
    func quotasAreSavedListedAndDeletedOverBothTransports(on deployment: RedisDeployment) throws {
        try start(on: deployment)
        let organizer = try mint("acme", "organizer")
        let viewer = try mint("acme", "viewer")
        var seen = try version()
        /// Whether the org's version (the read cache's) moved since last asked.
        func moved() throws -> Bool { let now = try version(); defer { seen = now }; return now > seen }

        // Ana's month: 20,000 in general, 30,000 in December; north's team month; bo's deals.
        let put = try http("PUT", "/v1/orgs/acme/quotas", token: organizer, body: Self.body([
            Self.entry("revenue", "month", "reps", "ana", 20000),
            Self.entry("revenue", "month", "reps", "ana", 30000, period: "2026-12"),
            Self.entry("revenue", "month", "teams", "north", 90000.5),
            Self.entry("deals", "week", "reps", "bo@acme.example", 4),
        ]))
        #expect(put.status == 200, "\(put.body)")
        #expect(put.json["saved"] as? Int == 4)
        #expect(put.json.count == 1)
        #expect(try moved())

        // Listed by board (metric, window, scope), then member, the default before a period's own.
        let all = try http("GET", "/v1/orgs/acme/quotas", token: viewer)
        #expect(all.status == 200, "\(all.body)")
        #expect(all.quotas == [
            "deals:week:reps bo@acme.example *=4.0",
            "revenue:month:reps ana *=20000.0",
            "revenue:month:reps ana 2026-12=30000.0",
            "revenue:month:teams north *=90000.5",
        ])
        // A quota reads back with exactly the fields it was given.
        let first = try #require((all.json["quotas"] as? [[String: Any]])?.first)
        #expect(Set(first.keys) == ["metric", "window", "scope", "member", "target"])
        #expect(try http("GET", "/v1/orgs/acme/quotas?member=ana", token: viewer).quotas
            == ["revenue:month:reps ana *=20000.0", "revenue:month:reps ana 2026-12=30000.0"])
        #expect(try http("GET", "/v1/orgs/acme/quotas?metric=revenue&scope=teams", token: viewer).quotas == ["revenue:month:teams north *=90000.5"])
        #expect(try http("GET", "/v1/orgs/acme/quotas?window=week", token: viewer).quotas == ["deals:week:reps bo@acme.example *=4.0"])
        #expect(try http("GET", "/v1/orgs/acme/quotas?metric=points", token: viewer).quotas == [])
        #expect(try http("GET", "/v1/orgs/other/quotas", token: admin).quotas == [])
        let badFilter = try http("GET", "/v1/orgs/acme/quotas?window=all", token: viewer)
        #expect(badFilter.status == 400 && badFilter.error == "window: must be one of today, week, month, quarter, year", "\(badFilter.body)")

        // The same quota put again is replaced, not doubled.
        let again = try http("PUT", "/v1/orgs/acme/quotas", token: organizer, body: Self.body([Self.entry("revenue", "month", "reps", "ana", 21000)]))
        #expect(again.status == 200 && again.json["saved"] as? Int == 1)
        #expect(try moved())
        #expect(try http("GET", "/v1/orgs/acme/quotas?member=ana", token: viewer).quotas
            == ["revenue:month:reps ana *=21000.0", "revenue:month:reps ana 2026-12=30000.0"])

        // Deleting December's own leaves the default; deleting it again is 404 and moves nothing.
        let deleted = try http("DELETE", "/v1/orgs/acme/quotas/revenue/month/reps/ana?period=2026-12", token: organizer)
        #expect(deleted.status == 204 && deleted.body.isEmpty, "\(deleted.body)")
        #expect(try moved())
        #expect(try http("GET", "/v1/orgs/acme/quotas?member=ana", token: viewer).quotas == ["revenue:month:reps ana *=21000.0"])
        let gone = try http("DELETE", "/v1/orgs/acme/quotas/revenue/month/reps/ana?period=2026-12", token: organizer)
        #expect(gone.status == 404, "\(gone.body)")
        #expect(gone.error == "member: no quota of 'ana' on revenue:month:reps for period 2026-12 in org 'acme'")
        #expect(try !moved())
        let badPeriod = try http("DELETE", "/v1/orgs/acme/quotas/revenue/month/reps/ana?period=2026-Q4", token: organizer)
        #expect(badPeriod.status == 400 && badPeriod.error == "period: must be a month period such as 2026-11, got '2026-Q4'", "\(badPeriod.body)")
        let member = try http("DELETE", "/v1/orgs/acme/quotas/deals/week/reps/bo@acme.example", token: organizer)
        #expect(member.status == 204, "\(member.body)")
        #expect(try moved())

        // The same over ZeroMQ: put, list, delete, with the token in the body.
        let zput = try zmq(["op": "quota.put", "org": "acme", "token": organizer, "quotas": [
            ["metric": "doors", "window": "today", "scope": "reps", "member": "cy", "target": 40],
            ["metric": "doors", "window": "today", "scope": "reps", "member": "cy", "target": 60, "period": "2026-12-24"],
        ]])
        #expect(zput["ok"] as? Bool == true && zput["saved"] as? Int == 2, "\(zput)")
        #expect(try moved())
        let zlist = try zmq(["op": "quota.list", "org": "acme", "token": viewer, "metric": "doors"])
        #expect(zlist["ok"] as? Bool == true)
        #expect(Self.lines(zlist) == ["doors:today:reps cy *=40.0", "doors:today:reps cy 2026-12-24=60.0"])
        let zdelete = try zmq(["op": "quota.delete", "org": "acme", "token": organizer, "metric": "doors", "window": "today",
                               "scope": "reps", "member": "cy", "period": "2026-12-24"])
        #expect(zdelete["ok"] as? Bool == true && zdelete["deleted"] as? Bool == true, "\(zdelete)")
        #expect(try moved())
        let zbad = try zmq(["op": "quota.put", "org": "acme", "token": organizer, "quotas": [
            ["metric": "doors", "window": "today", "scope": "reps", "member": "cy", "target": 0]]])
        #expect(zbad["ok"] as? Bool == false && zbad["error"] as? String == "quotas[0].target: must be a number > 0", "\(zbad)")
        #expect(try !moved())
        #expect(try http("GET", "/v1/orgs/acme/quotas", token: viewer).quotas
            == ["doors:today:reps cy *=40.0", "revenue:month:reps ana *=21000.0", "revenue:month:teams north *=90000.5"])
    }

    @Test func everyBadEntryIsRefusedByIndexAndFieldAndNothingIsSaved() throws {
        try start()
        let organizer = try mint("acme", "organizer")
        let before = try version()
        let good = [Self.entry("revenue", "month", "reps", "ana", 20000), Self.entry("deals", "week", "reps", "bo", 3)]
        // Each bad entry comes third, after two good ones: the put names it and saves neither.
        let cases: [(String, String)] = [
            (Self.entry("revenue", "month", "reps", "cy", 0), "quotas[2].target: must be a number > 0"),
            (Self.entry("revenue", "month", "reps", "cy", -1), "quotas[2].target: must be a number > 0"),
            (Self.entry("revenue", "month", "reps", "cy", #""100""#), "quotas[2].target: must be a number > 0"),
            (Self.entry("revenue", "month", "reps", "cy", "null"), "quotas[2].target: must be a number > 0"),
            (Self.entry("wins", "month", "reps", "cy", 5), "quotas[2].metric: unknown metric 'wins' (the org's metrics: points, revenue, deals, doors, appointments)"),
            (Self.entry("revenue", "all", "reps", "cy", 5), "quotas[2].window: must be one of today, week, month, quarter, year, got 'all'"),
            (Self.entry("revenue", "30d", "reps", "cy", 5), "quotas[2].window: must be one of today, week, month, quarter, year, got '30d'"),
            (Self.entry("revenue", "month", "regions", "cy", 5), "quotas[2].scope: must be one of reps, teams, got 'regions'"),
            (Self.entry("revenue", "month", "reps", "c y", 5), "quotas[2].member: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -"),
            (Self.entry("revenue", "month", "reps", String(repeating: "c", count: 65), 5), "quotas[2].member: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -"),
            (Self.entry("revenue", "month", "reps", "cy", 5, period: "2026-13"), "quotas[2].period: must be a month period such as 2026-11, got '2026-13'"),
            (Self.entry("revenue", "week", "reps", "cy", 5, period: "2026-12"), "quotas[2].period: must be a week period such as 2026-W48, got '2026-12'"),
            (Self.entry("revenue", "year", "reps", "cy", 5, period: "26"), "quotas[2].period: must be a year period such as 2026, got '26'"),
            (#"{"metric": "revenue", "window": "month", "scope": "reps", "member": "cy", "target": 5, "rep": "cy"}"#,
             "quotas[2].rep: unknown field (a quota has metric, window, scope, member, target and period)"),
            (#"{"window": "month", "scope": "reps", "member": "cy", "target": 5}"#, "quotas[2].metric: is required"),
            ("[1, 2]", #"quotas[2]: must be an object {"metric", "window", "scope", "member", "target", "period"?}"#),
            (good[0], "quotas[2]: the same metric, window, scope, member and period as quotas[0]"),
        ]
        for (bad, message) in cases {
            let answer = try http("PUT", "/v1/orgs/acme/quotas", token: organizer, body: Self.body(good + [bad]))
            #expect(answer.status == 400, "\(bad): \(answer.body)")
            #expect(answer.error == message, "\(bad)")
        }
        for (body, message) in [
            ("not json", #"quotas: must be a JSON object {"quotas": [...]} holding 1 to 10000 quotas"#),
            (#"{"quotas": []}"#, "quotas: must hold at least one quota"),
            (#"{"quotas": {"metric": "revenue"}}"#, #"quotas: must be a JSON object {"quotas": [...]} holding 1 to 10000 quotas"#),
        ] {
            let answer = try http("PUT", "/v1/orgs/acme/quotas", token: organizer, body: body)
            #expect(answer.status == 400 && answer.error == message, "\(body): \(answer.body)")
        }

        // 10,001 is one too many on either transport; 10,000 is the most, and is all saved.
        let many = (0..<10_001).map { Self.entry("doors", "today", "reps", "rep-\($0)", 10) }
        let tooMany = try http("PUT", "/v1/orgs/acme/quotas", token: organizer, body: Self.body(many))
        #expect(tooMany.status == 400 && tooMany.error == "quotas: at most 10000 in one put, got 10001", "\(tooMany.body.prefix(200))")
        let manyObjects = (0..<10_001).map { ["metric": "doors", "window": "today", "scope": "reps", "member": "rep-\($0)", "target": 10] as [String: Any] }
        let zTooMany = try zmq(["op": "quota.put", "org": "acme", "token": organizer, "quotas": manyObjects])
        #expect(zTooMany["error"] as? String == "quotas: at most 10000 in one put, got 10001", "\(zTooMany)")

        // Nothing of all that reached Redis, nor moved the org's version.
        #expect(try storedQuotaKeys() == [])
        #expect(try version() == before)

        let most = try zmq(["op": "quota.put", "org": "acme", "token": organizer, "quotas": Array(manyObjects.dropLast())])
        #expect(most["ok"] as? Bool == true && most["saved"] as? Int == 10_000, "\(most)")
        #expect(try version() > before)
        #expect(try stack.redis.connection().send("HLEN", "{acme}:quota:doors:today:reps").int == 10_000)
        let listed = try http("GET", "/v1/orgs/acme/quotas?metric=doors", token: admin)
        #expect((listed.json["quotas"] as? [Any])?.count == 10_000)
    }

    @Test func organizersWriteQuotasAndViewersReadThem() throws {
        try start()
        let organizer = try mint("acme", "organizer")
        let viewer = try mint("acme", "viewer")
        let otherOrganizer = try mint("other", "organizer")
        let body = Self.body([Self.entry("revenue", "month", "reps", "ana", 20000)])
        let before = try version()

        let byViewer = try http("PUT", "/v1/orgs/acme/quotas", token: viewer, body: body)
        #expect(byViewer.status == 403 && byViewer.error == "token: a viewer token may only read; this needs an organizer token", "\(byViewer.body)")
        let anonymous = try http("PUT", "/v1/orgs/acme/quotas", token: nil, body: body)
        #expect(anonymous.status == 401 && anonymous.error?.hasPrefix("token: is required") == true, "\(anonymous.body)")
        let elsewhere = try http("PUT", "/v1/orgs/acme/quotas", token: otherOrganizer, body: body)
        #expect(elsewhere.status == 403 && elsewhere.error == "token: a token of org 'other' may not be used for org 'acme'", "\(elsewhere.body)")
        let zViewer = try zmq(["op": "quota.put", "org": "acme", "token": viewer, "quotas": [
            ["metric": "revenue", "window": "month", "scope": "reps", "member": "ana", "target": 20000]]])
        #expect(zViewer["ok"] as? Bool == false && (zViewer["error"] as? String)?.hasPrefix("token: a viewer token") == true, "\(zViewer)")
        #expect(try storedQuotaKeys() == [] && version() == before)

        // The organizer and the admin write; a viewer reads; nobody without a token reads.
        #expect(try http("PUT", "/v1/orgs/acme/quotas", token: organizer, body: body).status == 200)
        #expect(try http("PUT", "/v1/orgs/acme/quotas", token: admin, body: Self.body([Self.entry("deals", "week", "reps", "ana", 2)])).status == 200)
        #expect(try http("GET", "/v1/orgs/acme/quotas", token: viewer).quotas == ["deals:week:reps ana *=2.0", "revenue:month:reps ana *=20000.0"])
        #expect(try http("GET", "/v1/orgs/acme/quotas", token: nil).status == 401)
        #expect(try http("GET", "/v1/orgs/acme/quotas", token: otherOrganizer).status == 403)

        let deleteByViewer = try http("DELETE", "/v1/orgs/acme/quotas/revenue/month/reps/ana", token: viewer)
        #expect(deleteByViewer.status == 403, "\(deleteByViewer.body)")
        #expect(try http("DELETE", "/v1/orgs/acme/quotas/revenue/month/reps/ana", token: admin).status == 204)
        #expect(try http("GET", "/v1/orgs/acme/quotas", token: viewer).quotas == ["deals:week:reps ana *=2.0"])
    }
}
