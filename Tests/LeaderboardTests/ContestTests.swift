import Foundation
import Hummingbird
import HummingbirdTesting
import Leaderboard
import Logging
import Redis
import Synchronization
import TallyTesting
import Testing
import ZeroMQ

/// Contests end to end: created over HTTP, scored by the real tally-scoring from events sent
/// through the real ingestion, states and winners read back and heard on the `_events` channel.
// `@unchecked Sendable`: each test gets its own instance, and the closures that capture it run
// one at a time inside that test.
@Suite(.serialized) final class ContestTests: @unchecked Sendable {
    private(set) var stack: TallyStack!
    private(set) var app: FieldApp!
    /// tally-notification's side: contest announcements heard so far, as "id:state".
    let announcements = Announcements()
    let listener: AsyncSocket
    let notifyEndpoint: String
    let zmqEndpoint = "tcp://127.0.0.1:\(freePort())"
    let secondZMQEndpoint = "tcp://127.0.0.1:\(freePort())"

    /// The real ingestion and a worker over `deployment`; each test starts with it.
    func start(on deployment: RedisDeployment = .single) throws {
        stack = try TallyStack(deployment: deployment)
        try stack.startIngestion()
        try stack.startWorker()
        app = try FieldApp(stack.endpoint)
    }

    init() throws {
        let port = freePort()
        notifyEndpoint = "tcp://127.0.0.1:\(port)"
        let sub = try Socket(.sub, options: [.subscribe(Data())])
        try sub.bind(notifyEndpoint)
        listener = AsyncSocket(sub)
        Task { [listener] in await listener.run() }  // until deinit closes it
        Task { [listener, announcements] in
            for await frames in listener.messages {
                guard let body = try? JSONSerialization.jsonObject(with: frames[1]) as? [String: Any],
                    body["type"] as? String == "contest"
                else { continue }
                announcements.list.withLock { $0.append("\(body["contest"]!):\(body["state"]!)") }
            }
        }
    }

    deinit {
        Task { [listener] in await listener.close() }
    }

    func leaderboard(zmq: String? = nil) throws -> some ApplicationProtocol {
        var configuration = LeaderboardConfiguration()
        configuration.zmqEndpoint = zmq ?? zmqEndpoint
        configuration.httpHost = "127.0.0.1"
        configuration.httpPort = 0
        configuration.redis = stack.redis.configuration
        configuration.adminToken = "s3cret"
        configuration.openReads = true  // what reads answer is tested here; who may read, in AccessTests
        configuration.notify = [notifyEndpoint]
        return try buildLeaderboard(configuration: configuration, logger: Logger(label: "test"))
    }

    var admin: HTTPFields { [.authorization: "Bearer s3cret"] }

    /// Sends one event and checks ingestion accepted it.
    func send(_ id: String, org: String = "default", rep: String, team: String? = nil, kind: String, at: Date = Date()) throws {
        let reply = try app.request(eventJSON(id: id, org: org, rep: rep, team: team, kind: kind, at: rfc3339(at)))
        #expect(reply?.results?.first?.status == "accepted", "\(String(describing: reply))")
    }

    func object(_ response: TestResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]) ?? [:]
    }

    func standings(_ contest: [String: Any]) -> [String: Double] {
        let entries = (contest["standings"] as? [String: Any])?["entries"] as? [[String: Any]] ?? []
        var scores: [String: Double] = [:]
        for entry in entries { scores[entry["member"] as! String] = entry["score"] as? Double }
        return scores
    }

    /// The announcements heard since the last call.
    func heard() throws -> [String] {
        announcements.list.withLock { heard in
            defer { heard = [] }
            return heard
        }
    }

    func definition(_ fields: [String: Any]) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: fields))
    }

    @Test(arguments: RedisDeployment.allCases)
    func aShortContestCountsWhatTheSpecSays(on deployment: RedisDeployment) async throws {
        try start(on: deployment)
        try await leaderboard().test(.live) { client in
            // Seconds apart, so that a loaded machine still sees each phase.
            let start = Date().addingTimeInterval(3)
            let end = start.addingTimeInterval(3)
            let created = try await client.execute(
                uri: "/v1/orgs/default/contests", method: .post, headers: admin,
                body: definition([
                    "id": "blitz", "name": "Door Blitz", "metric": "doors", "participants": ["ana", "bo"],
                    "starts_at": rfc3339(start), "ends_at": rfc3339(end), "grace_seconds": 3, "prizes": ["a day off"],
                ]))
            #expect(created.status == .created)
            #expect(object(created)["state"] as? String == "scheduled")

            func state() async throws -> String {
                object(try await client.execute(uri: "/v1/orgs/default/contests/blitz", method: .get))["state"] as? String ?? "?"
            }
            func waitFor(_ wanted: String) async throws {
                for _ in 0..<300 where try await state() != wanted { try await Task.sleep(for: .milliseconds(50)) }
                #expect(try await state() == wanted)
            }

            try send("before", rep: "ana", kind: "door_knock")  // before the start: not counted
            try await waitFor("running")
            try send("in-1", rep: "ana", kind: "door_knock")
            try send("in-2", rep: "ana", kind: "door_knock")
            try send("in-3", rep: "bo", kind: "door_knock")
            try send("in-call", rep: "bo", kind: "call")  // not a door: doors counts door knocks only
            try send("outsider", rep: "zoe", kind: "door_knock")  // not a participant
            try await waitFor("ended")
            try send("late-ok", rep: "ana", kind: "door_knock", at: end.addingTimeInterval(-0.5))  // in the window, within grace
            try send("after-end", rep: "bo", kind: "door_knock", at: Date())  // happened after the end
            try await waitFor("final")
            try send("too-late", rep: "bo", kind: "door_knock", at: end.addingTimeInterval(-0.5))  // after grace

            let final = object(try await client.execute(uri: "/v1/orgs/default/contests/blitz", method: .get))
            #expect(standings(final) == ["ana": 3, "bo": 1])
            #expect((final["winners"] as? [[String: Any]])?.map { $0["member"] as? String } == ["ana"])
            #expect(final["prizes"] as? [String] == ["a day off"])

            // Displays heard every transition, in order, the last with the winner.
            try await Task.sleep(for: .milliseconds(500))
            #expect(try heard() == ["blitz:scheduled", "blitz:running", "blitz:ended", "blitz:final"])

            // The same contest on the ordinary board endpoint.
            let board = object(try await client.execute(uri: "/v1/orgs/default/boards/contest:blitz", method: .get))
            #expect(board["total"] as? Int == 2)

            let list = object(try await client.execute(uri: "/v1/orgs/default/contests?state=final", method: .get))
            #expect((list["contests"] as? [[String: Any]])?.map { $0["id"] as? String } == ["blitz"])
        }
    }

    @Test(arguments: RedisDeployment.allCases)
    func teamWeightedRaceEndAndCancel(on deployment: RedisDeployment) async throws {
        try start(on: deployment)
        let now = Date()
        let window = ["starts_at": rfc3339(now.addingTimeInterval(-1)), "ends_at": rfc3339(now.addingTimeInterval(600))]
        try await leaderboard().test(.live) { client in
            func create(_ org: String, _ fields: [String: Any]) async throws {
                let response = try await client.execute(
                    uri: "/v1/orgs/\(org)/contests", method: .post, headers: admin,
                    body: definition(fields.merging(window) { a, _ in a }))
                #expect(response.status == .created, "\(String(buffer: response.body))")
            }
            func get(_ org: String, _ id: String) async throws -> [String: Any] {
                object(try await client.execute(uri: "/v1/orgs/\(org)/contests/\(id)", method: .get))
            }
            try await create("teams", ["id": "team-demos", "name": "Team demos", "scope": "teams", "weights": ["demo": 3, "call": 1]])
            try await create("race", ["id": "to-20", "name": "First to 20", "metric": "points", "goal": 20])
            try await create("stop", ["id": "stopped", "name": "Cancelled", "metric": "points"])
            try await create("early", ["id": "early", "name": "Ended early", "metric": "points"])
            // Scoring reads new contests within a second.
            try await Task.sleep(for: .milliseconds(1_200))

            try send("t1", org: "teams", rep: "ana", team: "north", kind: "demo")
            try send("t2", org: "teams", rep: "bo", team: "south", kind: "call")
            try send("t3", org: "teams", rep: "cy", team: "north", kind: "call")
            try send("t4", org: "teams", rep: "ed", kind: "demo")  // no team: not on a team board
            try send("t5", org: "teams", rep: "bo", team: "south", kind: "email")  // not weighted
            #expect(standings(try await get("teams", "team-demos")) == ["north": 4, "south": 1])

            try send("r1", org: "race", rep: "ana", kind: "demo")  // ana 10
            try send("r2", org: "race", rep: "bo", kind: "proposal")  // bo 15
            try send("r3", org: "race", rep: "ana", kind: "demo")  // ana 20: the winner
            try send("r4", org: "race", rep: "bo", kind: "proposal")  // after the finish: not counted
            let race = try await get("race", "to-20")
            #expect(standings(race) == ["ana": 20, "bo": 15])
            #expect((race["winners"] as? [[String: Any]])?.map { $0["member"] as? String } == ["ana"])
            #expect(race["state"] as? String == "final")

            let cancelled = try await client.execute(uri: "/v1/orgs/stop/contests/stopped", method: .delete, headers: admin)
            #expect(object(cancelled)["state"] as? String == "cancelled")
            try await Task.sleep(for: .milliseconds(1_200))
            try send("c1", org: "stop", rep: "ana", kind: "demo")
            #expect(standings(try await get("stop", "stopped")).isEmpty)
            let again = try await client.execute(uri: "/v1/orgs/stop/contests/stopped", method: .delete, headers: admin)
            #expect(again.status == .conflict)

            try send("e1", org: "early", rep: "ana", kind: "call")
            let ended = try await client.execute(uri: "/v1/orgs/early/contests/early/end", method: .post, headers: admin)
            #expect(object(ended)["state"] as? String == "final")
            try await Task.sleep(for: .milliseconds(1_200))
            try send("e2", org: "early", rep: "ana", kind: "demo")
            #expect(standings(try await get("early", "early")) == ["ana": 1])
        }
    }

    /// Waits (up to ten seconds) until the announcements heard so far are `expected`.
    func waitToHear(_ expected: [String]) async throws {
        var heard: [String] = []
        for _ in 0..<100 where heard.count < expected.count {
            heard += try self.heard()
            if heard.count < expected.count { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(heard == expected)
    }

    @Test func aRestartedLeaderboardKeepsTheContestsState() async throws {
        try start()
        let start = Date().addingTimeInterval(-1)
        let end = Date().addingTimeInterval(8)
        try await leaderboard().test(.live) { client in
            let created = try await client.execute(
                uri: "/v1/orgs/default/contests", method: .post, headers: admin,
                body: definition(["id": "restart", "name": "Restart", "metric": "points", "starts_at": rfc3339(start), "ends_at": rfc3339(end), "grace_seconds": 1]))
            #expect(object(created)["state"] as? String == "running")
            try await waitToHear(["restart:running"])
        }
        // A new leaderboard process: the same state, no second "running", then the rest.
        try await leaderboard(zmq: secondZMQEndpoint).test(.live) { client in
            func state() async throws -> String? {
                object(try await client.execute(uri: "/v1/orgs/default/contests/restart", method: .get))["state"] as? String
            }
            #expect(try await state() == "running")
            for _ in 0..<300 where try await state() != "final" { try await Task.sleep(for: .milliseconds(50)) }
            try await waitToHear(["restart:ended", "restart:final"])
        }
    }

    nonisolated(unsafe) static let badDefinitions: [([String: Any], Int, String)] = [
        (["name": "x", "metric": "points", "starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-02T08:00:00Z"], 400, "id: must be 1 to 64 characters of a-z, 0-9 and -"),
        (["id": "Bad Id", "name": "x", "metric": "points", "starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-02T08:00:00Z"], 400, "id: must be 1 to 64 characters of a-z, 0-9 and -"),
        (["id": "c", "metric": "points", "starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-02T08:00:00Z"], 400, "name: must be 1 to 100 characters"),
        (["id": "c", "name": "x", "metric": "karma", "starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-02T08:00:00Z"], 400, "metric: unknown metric 'karma' (known: points, revenue, deals, doors, appointments)"),
        (["id": "c", "name": "x", "weights": ["dance": 1], "starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-02T08:00:00Z"], 400, "weights: unknown activity kind 'dance'"),
        (["id": "c", "name": "x", "metric": "points", "scope": "regions", "starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-02T08:00:00Z"], 400, "scope: must be reps or teams"),
        (["id": "c", "name": "x", "metric": "points", "starts_at": "soon", "ends_at": "2026-12-02T08:00:00Z"], 400, "starts_at: must be an RFC 3339 time such as 2026-12-01T08:00:00+01:00"),
        (["id": "c", "name": "x", "metric": "points", "starts_at": "2026-12-02T08:00:00Z", "ends_at": "2026-12-01T08:00:00Z"], 400, "ends_at: must be after starts_at"),
        (["id": "c", "name": "x", "metric": "points", "starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-02T08:00:00Z", "goal": 0], 400, "goal: must be a number above 0"),
        (["id": "c", "name": "x", "metric": "points", "starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-02T08:00:00Z", "grace_seconds": -5], 400, "grace_seconds: must be 0 or more"),
        (["id": "c", "name": "x", "metric": "points", "starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-02T08:00:00Z", "participants": "ana"], 400, "participants: has the wrong type"),
    ]

    @Test func badDefinitionsAndAuthAreRefusedByField() async throws {
        try start()
        try await leaderboard().test(.live) { client in
            for (fields, status, message) in Self.badDefinitions {
                let response = try await client.execute(uri: "/v1/orgs/default/contests", method: .post, headers: admin, body: definition(fields))
                #expect(response.status.code == status)
                #expect(object(response)["error"] as? String == message)
            }
            let good = definition(["id": "ok", "name": "OK", "metric": "points", "starts_at": "2026-12-01T08:00:00Z", "ends_at": "2026-12-02T08:00:00Z"])
            let noToken = try await client.execute(uri: "/v1/orgs/default/contests", method: .post, body: good)
            #expect(noToken.status == .unauthorized)
            let wrong = try await client.execute(uri: "/v1/orgs/default/contests", method: .post, headers: [.authorization: "Bearer guess"], body: good)
            #expect(wrong.status == .unauthorized)  // not a valid token: 401, as no token (SPEC "Access")
            #expect(try await client.execute(uri: "/v1/orgs/default/contests", method: .post, headers: admin, body: good).status == .created)
            let duplicate = try await client.execute(uri: "/v1/orgs/default/contests", method: .post, headers: admin, body: good)
            #expect(duplicate.status == .conflict)
            #expect(object(duplicate)["error"] as? String == "id: a contest 'ok' already exists in org 'default'")
            #expect(try await client.execute(uri: "/v1/orgs/default/contests/nope", method: .get).status == .notFound)
        }
    }
}

final class Announcements: Sendable {
    let list = Mutex<[String]>([])
}
