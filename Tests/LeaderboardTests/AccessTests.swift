import Foundation
import Redis
import TallyTesting
import Testing
import ZeroMQ

/// Org tokens against the real tally-leaderboard process, closed (no `--open-reads`), as an
/// outside client sees it: HTTP with `Authorization: Bearer`, ZeroMQ with `"token"`.
// `@unchecked Sendable`: each test gets its own instance and drives it from one task.
@Suite(.serialized) final class AccessTests: @unchecked Sendable {
    let admin = "admin-secret-for-tests"
    let stack: TallyStack

    /// Two orgs with scores (default points: demo 10, call 1, door knock 1): acme has ana 11
    /// and bo 1; other has cy 10.
    init() throws {
        stack = try TallyStack(openReads: false, adminToken: admin)
        try stack.startIngestion()
        try stack.startWorker()
        let app = try FieldApp(stack.endpoint)
        let now = rfc3339(Date())
        for (id, org, rep, kind) in [("a1", "acme", "ana", "demo"), ("a2", "acme", "ana", "call"), ("a3", "acme", "bo", "door_knock"),
                                     ("o1", "other", "cy", "demo")] {
            let reply = try app.request(eventJSON(id: id, org: org, rep: rep, kind: kind, at: now))
            guard reply?.results?.first?.status == "accepted" else { throw TestSetupError("not accepted: \(String(describing: reply))") }
        }
    }

    func start(_ options: [String] = []) throws { try stack.startLeaderboard(options) }

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
        let (status, text) = try httpRequest(port: stack.leaderboardHTTPPort, method, path, token: token, body: body)
        return Answer(status: status, body: text)
    }

    /// A new token made by the admin over HTTP: its id and value.
    func mint(_ org: String, _ role: String, name: String = "test") throws -> (id: String, token: String) {
        let answer = try http("POST", "/v1/orgs/\(org)/tokens", token: admin, body: #"{"role": "\#(role)", "name": "\#(name)"}"#)
        guard answer.status == 201, let id = answer.json["id"] as? String, let token = answer.json["token"] as? String else {
            throw TestSetupError("no token: \(answer.status) \(answer.body)")
        }
        return (id, token)
    }

    var acmeBoard: String { "/v1/orgs/acme/boards/points:all:reps" }

    @Test func readsNeedAValidTokenOfTheirOrg() throws {
        try start()
        let viewer = try mint("acme", "viewer")
        let stranger = try mint("other", "viewer")

        let none = try http("GET", acmeBoard)
        #expect(none.status == 401)
        #expect(none.error == "token: is required: a viewer or organizer token of org 'acme', or the admin token")
        let wrong = try http("GET", acmeBoard, token: "nope")
        #expect(wrong.status == 401)
        #expect(wrong.error == "token: not a valid token (unknown or revoked)")
        // Shaped like a token of acme, but never made: the look-up finds nothing.
        let forged = try http("GET", acmeBoard, token: "tly_acme_" + String(repeating: "A", count: 43))
        #expect(forged.status == 401)
        #expect(forged.error == "token: not a valid token (unknown or revoked)")
        // A valid token, of another org.
        let foreign = try http("GET", acmeBoard, token: stranger.token)
        #expect(foreign.status == 403)
        #expect(foreign.error == "token: a token of org 'other' may not be used for org 'acme'")
        #expect(!foreign.body.contains("ana"))

        let read = try http("GET", acmeBoard, token: viewer.token)
        #expect(read.status == 200)
        #expect(read.lines == ["ana=11", "bo=1"])
        #expect(try http("GET", acmeBoard, token: admin).lines == ["ana=11", "bo=1"])
        #expect(try http("GET", "/v1/orgs/other/boards/points:all:reps", token: stranger.token).lines == ["cy=10"])
        for path in ["/v1/orgs/acme/boards", "/v1/orgs/acme/members/ana", "/v1/orgs/acme/contests", "\(acmeBoard)/members/ana"] {
            #expect(try http("GET", path).status == 401, "\(path)")
            #expect(try http("GET", path, token: stranger.token).status == 403, "\(path)")
            #expect(try http("GET", path, token: viewer.token).status == 200, "\(path)")
        }
        // Access is decided before the board is looked at: a refused caller learns nothing of it.
        let unknownBoard = "/v1/orgs/acme/boards/karma:today:reps"
        #expect(try http("GET", unknownBoard).status == 401)
        #expect(try http("GET", unknownBoard, token: stranger.token).status == 403)
        #expect(try http("GET", unknownBoard, token: "tly_acme_" + String(repeating: "A", count: 43)).status == 401)
        #expect(try http("GET", unknownBoard, token: viewer.token).status == 404)
        // /healthz and /metrics stay open, for probes and scrapers.
        #expect(try http("GET", "/healthz").status == 200)
    }

    @Test func aViewerOnlyReadsAndAnOrganizerRunsContestsButCannotMintTokens() throws {
        try start()
        let viewer = try mint("acme", "viewer")
        let organizer = try mint("acme", "organizer")
        let otherOrganizer = try mint("other", "organizer")
        let rep = #"{"name": "Ana Lopez", "team": "north"}"#
        let contest = #"{"id": "blitz", "name": "Blitz", "metric": "points", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}"#

        let viewerWrite = try http("PUT", "/v1/orgs/acme/reps/ana", token: viewer.token, body: rep)
        #expect(viewerWrite.status == 403)
        #expect(viewerWrite.error == "token: a viewer token may only read; this needs an organizer token")
        #expect(try http("POST", "/v1/orgs/acme/contests", token: viewer.token, body: contest).status == 403)
        #expect(try http("PUT", "/v1/orgs/acme/reps/ana", body: rep).status == 401)
        #expect(try http("PUT", "/v1/orgs/acme/reps/ana", token: otherOrganizer.token, body: rep).status == 403)

        // The organizer writes its org: the rep directory, and a contest from start to cancel.
        #expect(try http("PUT", "/v1/orgs/acme/reps/ana", token: organizer.token, body: rep).status == 200)
        #expect(try http("GET", acmeBoard, token: viewer.token).json["entries"].flatMap { ($0 as? [[String: Any]])?.first?["name"] as? String } == "Ana Lopez")
        let created = try http("POST", "/v1/orgs/acme/contests", token: organizer.token, body: contest)
        #expect(created.status == 201, "\(created.body)")
        #expect(created.json["state"] as? String == "running")
        let listed = try http("GET", "/v1/orgs/acme/contests", token: viewer.token)
        #expect((listed.json["contests"] as? [[String: Any]])?.map { $0["id"] as? String } == ["blitz"])
        #expect(try http("DELETE", "/v1/orgs/acme/contests/blitz", token: viewer.token).status == 403)
        #expect(try http("DELETE", "/v1/orgs/acme/contests/blitz", token: organizer.token).json["state"] as? String == "cancelled")

        // Tokens are the admin's alone.
        for (method, path, body) in [("POST", "/v1/orgs/acme/tokens", #"{"role": "organizer", "name": "mine"}"#),
                                     ("GET", "/v1/orgs/acme/tokens", nil), ("DELETE", "/v1/orgs/acme/tokens/\(viewer.id)", nil)] {
            let refused = try http(method, path, token: organizer.token, body: body)
            #expect(refused.status == 403, "\(method) \(path)")
            #expect(refused.error == "token: managing tokens needs the admin token", "\(method) \(path)")
            #expect(try http(method, path, token: viewer.token, body: body).status == 403, "\(method) \(path)")
            let anonymous = try http(method, path, body: body)
            #expect(anonymous.status == 401, "\(method) \(path)")
            #expect(anonymous.error == "token: is required: the admin token", "\(method) \(path)")
        }
        // The viewer's token was not revoked by any of that.
        #expect(try http("GET", acmeBoard, token: viewer.token).status == 200)
    }

    @Test func theTokenListNeverShowsAValueAndRedisHoldsNone() throws {
        try start()
        let lobby = try mint("acme", "viewer", name: "Lobby TV")
        let manager = try mint("acme", "organizer", name: "Floor manager")
        #expect(lobby.token.hasPrefix("tly_acme_") && lobby.token.count == "tly_acme_".count + 43)
        #expect(lobby.token != manager.token)

        let list = try http("GET", "/v1/orgs/acme/tokens", token: admin)
        #expect(list.status == 200)
        let tokens = list.json["tokens"] as? [[String: Any]] ?? []
        #expect(Set(tokens.map { $0["id"] as? String ?? "" }) == [lobby.id, manager.id])
        #expect(tokens.first { $0["id"] as? String == lobby.id }?["role"] as? String == "viewer")
        #expect(tokens.first { $0["id"] as? String == manager.id }?["name"] as? String == "Floor manager")
        for token in tokens { #expect(Set(token.keys) == ["id", "name", "role", "created_at"]) }
        for value in [lobby.token, manager.token] {
            #expect(!list.body.contains(value))
            #expect(!list.body.contains(String(value.suffix(43))))
        }
        #expect(list.body.firstMatch(of: /[0-9a-f]{64}/) == nil, "no hash either: \(list.body)")
        #expect(try http("GET", "/v1/orgs/other/tokens", token: admin).json["tokens"] as? [Any] != nil)
        // The log records what was made, by id; never a value.
        #expect(stack.logs.contains("id=\(lobby.id)") && stack.logs.contains("token created"))
        #expect(!stack.logs.contains(String(lobby.token.suffix(43))) && !stack.logs.contains(String(manager.token.suffix(43))))

        // Redis holds the tokens' hashes only: no key, field or value anywhere has a value's text.
        let redis = stack.redis.connection()
        let keys = try redis.send("KEYS", "*").array?.compactMap(\.string) ?? []
        #expect(keys.contains("{acme}:token-hashes"))
        for key in keys {
            let type = try redis.send("TYPE", key).string
            let contents: [String] = switch type {
            case "hash": try redis.send("HGETALL", key).array?.compactMap(\.string) ?? []
            case "string": [try redis.send("GET", key).string ?? ""]
            case "set": try redis.send("SMEMBERS", key).array?.compactMap(\.string) ?? []
            case "zset": try redis.send("ZRANGE", key, "0", "-1").array?.compactMap(\.string) ?? []
            default: []
            }
            for text in [key] + contents {
                #expect(!text.contains(String(lobby.token.suffix(43))) && !text.contains(String(manager.token.suffix(43))), "\(key)")
            }
        }
    }

    @Test func aRevokedTokenIsRefusedFromTheNextRequest() throws {
        try start()
        let viewer = try mint("acme", "viewer")
        let ask = try zmqClient(stack.services.leaderboardEndpoint)
        let top = #"{"op": "top", "org": "acme", "board": "points:all:reps", "token": "\#(viewer.token)"}"#
        #expect(try http("GET", acmeBoard, token: viewer.token).status == 200)
        #expect(try ask(top)["ok"] as? Bool == true)

        #expect(try http("DELETE", "/v1/orgs/acme/tokens/\(viewer.id)", token: admin).status == 204)
        let refused = try http("GET", acmeBoard, token: viewer.token)
        #expect(refused.status == 401)
        #expect(refused.error == "token: not a valid token (unknown or revoked)")
        #expect(try ask(top)["error"] as? String == "token: not a valid token (unknown or revoked)")

        let again = try http("DELETE", "/v1/orgs/acme/tokens/\(viewer.id)", token: admin)
        #expect(again.status == 404)
        #expect(again.error == "id: no token '\(viewer.id)' in org 'acme'")
        #expect((try http("GET", "/v1/orgs/acme/tokens", token: admin).json["tokens"] as? [Any])?.isEmpty == true)
    }

    @Test func theZeroMQOperationsEnforceTheSameRules() throws {
        try start()
        let ask = try zmqClient(stack.services.leaderboardEndpoint)
        func request(_ fields: [String: Any]) throws -> [String: Any] {
            try ask(String(decoding: try JSONSerialization.data(withJSONObject: fields), as: UTF8.self))
        }
        let minted = try request(["op": "token.create", "org": "acme", "role": "viewer", "name": "zmq", "token": admin])
        let viewer = try #require(minted["token"] as? String, "\(minted)")
        #expect(minted["ok"] as? Bool == true && minted["role"] as? String == "viewer")
        let organizer = try #require(try request(["op": "token.create", "org": "acme", "role": "organizer", "name": "zmq", "token": admin])["token"] as? String)
        let stranger = try #require(try request(["op": "token.create", "org": "other", "role": "viewer", "name": "zmq", "token": admin])["token"] as? String)
        #expect(try request(["op": "token.create", "org": "acme", "role": "boss", "name": "x", "token": admin])["error"] as? String
            == "role: must be viewer or organizer")

        let top: [String: Any] = ["op": "top", "org": "acme", "board": "points:all:reps"]
        #expect(try request(top)["error"] as? String == "token: is required: a viewer or organizer token of org 'acme', or the admin token")
        #expect(try request(top.merging(["token": stranger]) { $1 })["error"] as? String == "token: a token of org 'other' may not be used for org 'acme'")
        let read = try request(top.merging(["token": viewer]) { $1 })
        #expect((read["entries"] as? [[String: Any]])?.map { $0["member"] as? String } == ["ana", "bo"])
        #expect(try request(["op": "contest.list", "org": "acme"])["error"] as? String != nil)
        let unknownBoard: [String: Any] = ["op": "top", "org": "acme", "board": "karma:today:reps"]
        #expect(try request(unknownBoard.merging(["token": stranger]) { $1 })["error"] as? String == "token: a token of org 'other' may not be used for org 'acme'")
        #expect((try request(unknownBoard.merging(["token": viewer]) { $1 })["error"] as? String)?.hasPrefix("board: unknown board") == true)
        #expect(try request(["op": "contest.list", "org": "acme", "token": viewer])["ok"] as? Bool == true)

        let put: [String: Any] = ["op": "rep.put", "org": "acme", "rep": "bo", "name": "Bo"]
        #expect(try request(put.merging(["token": viewer]) { $1 })["error"] as? String == "token: a viewer token may only read; this needs an organizer token")
        #expect(try request(put.merging(["token": organizer]) { $1 })["ok"] as? Bool == true)
        #expect(try request(["op": "token.list", "org": "acme", "token": organizer])["error"] as? String == "token: managing tokens needs the admin token")
        let list = try request(["op": "token.list", "org": "acme", "token": admin])
        #expect((list["tokens"] as? [[String: Any]])?.count == 2)
        #expect(!String(describing: list).contains(viewer) && !String(describing: list).contains(organizer))

        // Reads pipelined together on the socket's thread: each gets its own answer.
        let dealer = try Socket(.dealer, options: [.receiveTimeout(milliseconds: 10_000)])
        try dealer.connect(stack.services.leaderboardEndpoint)
        let requests: [[String: Any]] = [
            top.merging(["token": viewer, "limit": 1]) { $1 }, top, top.merging(["token": stranger]) { $1 },
            top.merging(["token": "tly_acme_" + String(repeating: "B", count: 43)]) { $1 }, top.merging(["token": admin, "limit": 2]) { $1 },
        ]
        for fields in requests { try dealer.send([Data(), try JSONSerialization.data(withJSONObject: fields)]) }
        var outcomes: [String] = []
        for _ in requests {
            let frames = try #require(try dealer.receive())
            let answer = try #require(try JSONSerialization.jsonObject(with: frames.last!) as? [String: Any])
            outcomes.append((answer["entries"] as? [Any]).map { "entries \($0.count)" } ?? answer["error"] as? String ?? "?")
        }
        #expect(outcomes.sorted() == [
            "entries 1", "entries 2", "token: a token of org 'other' may not be used for org 'acme'",
            "token: is required: a viewer or organizer token of org 'acme', or the admin token",
            "token: not a valid token (unknown or revoked)",
        ])

        let id = try #require(minted["id"] as? String)
        #expect(try request(["op": "token.revoke", "org": "acme", "id": id, "token": organizer])["error"] as? String == "token: managing tokens needs the admin token")
        #expect(try request(["op": "token.revoke", "org": "acme", "id": id, "token": admin])["ok"] as? Bool == true)
        #expect(try request(top.merging(["token": viewer]) { $1 })["error"] as? String == "token: not a valid token (unknown or revoked)")
        #expect(try request(["op": "token.revoke", "org": "acme", "id": id, "token": admin])["error"] as? String == "id: no token '\(id)' in org 'acme'")
    }

    @Test func openReadsOpenReadsAndNothingElse() throws {
        try start(["--open-reads"])
        let viewer = try mint("acme", "viewer")
        #expect(try http("GET", acmeBoard).lines == ["ana=11", "bo=1"])
        for path in ["/v1/orgs/acme/boards", "/v1/orgs/acme/members/ana", "/v1/orgs/acme/contests", "\(acmeBoard)/members/ana"] {
            #expect(try http("GET", path).status == 200, "\(path)")
        }
        let ask = try zmqClient(stack.services.leaderboardEndpoint)
        #expect(try ask(#"{"op": "top", "org": "acme", "board": "points:all:reps"}"#)["ok"] as? Bool == true)

        // Writes, field keys and tokens still need their tokens.
        let writes: [(String, String, String?)] = [
            ("PUT", "/v1/orgs/acme/reps/ana", #"{"name": "A"}"#),
            ("POST", "/v1/orgs/acme/contests", #"{"id": "c", "name": "C", "metric": "points", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-02T00:00:00Z"}"#),
            ("GET", "/v1/orgs/acme/field-keys", nil), ("POST", "/v1/orgs/acme/tokens", #"{"role": "viewer", "name": "x"}"#),
            ("GET", "/v1/orgs/acme/tokens", nil),
        ]
        for (method, path, body) in writes {
            #expect(try http(method, path, body: body).status == 401, "\(method) \(path)")
            #expect(try http(method, path, token: viewer.token, body: body).status == 403, "\(method) \(path)")
        }
        #expect(try ask(#"{"op": "rep.put", "org": "acme", "rep": "bo", "name": "B"}"#)["error"] as? String
            == "token: is required: an organizer token of org 'acme', or the admin token")
    }

    @Test func anOrganizerManagesFieldKeysOverHTTPAndZeroMQ() throws {
        try start()
        let organizer = try mint("acme", "organizer")
        let viewer = try mint("acme", "viewer")
        let publicKey = try CurveKeyPair.generate().publicKey
        let body = #"{"public_key": "\#(publicKey)", "name": "Berlin tablets"}"#

        #expect(try http("POST", "/v1/orgs/acme/field-keys", body: body).status == 401)
        #expect(try http("POST", "/v1/orgs/acme/field-keys", token: viewer.token, body: body).status == 403)
        #expect(try http("GET", "/v1/orgs/acme/field-keys", token: viewer.token).status == 403)
        let added = try http("POST", "/v1/orgs/acme/field-keys", token: organizer.token, body: body)
        #expect(added.status == 201, "\(added.body)")
        let id = try #require(added.json["id"] as? String)
        #expect(added.json["public_key"] as? String == publicKey && added.json["name"] as? String == "Berlin tablets")
        #expect(Set(added.json.keys) == ["id", "name", "public_key", "created_at"])
        // Where every ingestion instance looks keys up.
        #expect(try stack.redis.connection().send("HGET", "tally:field-keys", publicKey).string == "acme \(id)")

        let twice = try http("POST", "/v1/orgs/acme/field-keys", token: organizer.token, body: body)
        #expect(twice.status == 400 && twice.error == "public_key: this key is registered already")
        let bad = try http("POST", "/v1/orgs/acme/field-keys", token: organizer.token, body: #"{"public_key": "short", "name": "x"}"#)
        #expect(bad.status == 400 && bad.error == "public_key: must be a CURVE public key, 40 characters of Z85")
        let unnamed = try http("POST", "/v1/orgs/acme/field-keys", token: organizer.token, body: #"{"public_key": "\#(publicKey)"}"#)
        #expect(unnamed.status == 400 && unnamed.error == "name: is required")

        let listed = try http("GET", "/v1/orgs/acme/field-keys", token: organizer.token)
        #expect((listed.json["field_keys"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
        #expect((try http("GET", "/v1/orgs/acme/field-keys", token: admin).json["field_keys"] as? [Any])?.count == 1)
        #expect(try http("DELETE", "/v1/orgs/acme/field-keys/\(id)", token: viewer.token).status == 403)
        #expect(try http("DELETE", "/v1/orgs/acme/field-keys/\(id)", token: organizer.token).status == 204)
        // Revoked for good: its index entry says so, and ingestion admits it no more.
        #expect(try stack.redis.connection().send("HGET", "tally:field-keys", publicKey).string == "revoked")
        let gone = try http("DELETE", "/v1/orgs/acme/field-keys/\(id)", token: organizer.token)
        #expect(gone.status == 404 && gone.error == "id: no field key '\(id)' in org 'acme'")

        // The same over ZeroMQ.
        let ask = try zmqClient(stack.services.leaderboardEndpoint)
        let second = try CurveKeyPair.generate().publicKey
        let zmqAdded = try ask(#"{"op": "field-key.add", "org": "acme", "public_key": "\#(second)", "name": "zmq", "token": "\#(organizer.token)"}"#)
        let zmqID = try #require(zmqAdded["id"] as? String, "\(zmqAdded)")
        #expect(try ask(#"{"op": "field-key.list", "org": "acme", "token": "\#(viewer.token)"}"#)["error"] as? String
            == "token: a viewer token may only read; this needs an organizer token")
        let zmqList = try ask(#"{"op": "field-key.list", "org": "acme", "token": "\#(organizer.token)"}"#)
        #expect((zmqList["field_keys"] as? [[String: Any]])?.map { $0["public_key"] as? String } == [second])
        #expect(try ask(#"{"op": "field-key.revoke", "org": "acme", "id": "\#(zmqID)", "token": "\#(organizer.token)"}"#)["ok"] as? Bool == true)
        #expect(try ask(#"{"op": "field-key.list", "org": "acme", "token": "\#(organizer.token)"}"#)["field_keys"] as? [Any] != nil)
    }

    @Test func anOrgHasAtMostAThousandTokens() throws {
        try start()
        let ask = try zmqClient(stack.services.leaderboardEndpoint)
        let create = #"{"op": "token.create", "org": "cap", "role": "viewer", "name": "tv", "token": "\#(admin)"}"#
        var made: [String] = []
        for _ in 0..<1_000 {
            let answer = try ask(create)
            guard let id = answer["id"] as? String else { Issue.record("refused early: \(answer)"); return }
            made.append(id)
        }
        #expect(Set(made).count == 1_000)
        let over = try ask(create)
        #expect(over["error"] as? String == "tokens: org 'cap' has 1000 tokens, the most it may have (revoke one first)")
        #expect(try http("POST", "/v1/orgs/cap/tokens", token: admin, body: #"{"role": "viewer", "name": "tv"}"#).status == 400)
        // Another org is not affected, and revoking one makes room.
        #expect(try ask(create.replacingOccurrences(of: #""org": "cap""#, with: #""org": "acme""#))["ok"] as? Bool == true)
        #expect(try http("DELETE", "/v1/orgs/cap/tokens/\(made[0])", token: admin).status == 204)
        #expect(try ask(create)["ok"] as? Bool == true)
    }
}
