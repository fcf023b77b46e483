import Foundation
import Redis
import TallyTesting
import Testing

/// Who may open a WebSocket stream, against the real processes, closed (no `--open-reads`):
/// tokens are made by the admin through tally-leaderboard's API, as an operator would.
// `@unchecked Sendable`: each test gets its own instance and drives it from one task.
@Suite(.serialized) final class StreamAccessTests: @unchecked Sendable {
    let admin = "admin-secret-for-streams"
    let stack: TallyStack
    let app: FieldApp

    init() throws {
        stack = try TallyStack(openReads: false, adminToken: admin)
        try stack.startWithNotification()
        try stack.startLeaderboard()
        app = try FieldApp(stack.endpoint)
        // Points (default rules): a demo is 10.
        let reply = try app.request(eventJSON(id: "s1", rep: "ana", kind: "demo", at: rfc3339(Date())))
        guard reply?.results?.first?.status == "accepted" else { throw TestSetupError("not accepted: \(String(describing: reply))") }
    }

    func mint(_ org: String, _ role: String) throws -> (id: String, token: String) {
        let (status, body) = try httpRequest(
            port: stack.leaderboardHTTPPort, "POST", "/v1/orgs/\(org)/tokens", token: admin, body: #"{"role": "\#(role)", "name": "tv"}"#)
        let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        guard status == 201, let id = json?["id"] as? String, let token = json?["token"] as? String else {
            throw TestSetupError("no token: \(status) \(body)")
        }
        return (id, token)
    }

    func stream(token: String?) -> StreamClient {
        var url = "ws://127.0.0.1:\(stack.notificationHTTPPort)/v1/stream?org=default&board=points:all:reps"
        if let token { url += "&token=\(token)" }
        return StreamClient(url: url)
    }

    func closed(_ display: StreamClient) throws -> (code: Int, reason: String)? {
        do { try wait("the stream to be closed") { display.closedWith != nil || display.ended != nil } } catch { throw TestSetupError("\(error)\n\(stack.logs)") }
        return display.closedWith
    }

    @Test func aStreamWithoutAValidTokenOfItsOrgIsClosedWithAReason() throws {
        let none = try closed(stream(token: nil))
        #expect(none?.code == 4401)
        #expect(none?.reason == "token: this display needs a viewer token of org 'default'")

        let wrong = try closed(stream(token: "not-a-token"))
        #expect(wrong?.code == 4401)
        #expect(wrong?.reason == "token: not a valid token (unknown or revoked)")
        let forged = try closed(stream(token: "tly_default_" + String(repeating: "C", count: 43)))
        #expect(forged?.code == 4401)

        let foreign = stream(token: try mint("other", "viewer").token)
        #expect(try closed(foreign)?.code == 4403)
        #expect(foreign.closedWith?.reason == "token: this token is of another org, not 'default'")
        #expect(foreign.messages.isEmpty, "no snapshot before the refusal")

        // Viewer, organizer and admin tokens each get the board.
        for token in [try mint("default", "viewer").token, try mint("default", "organizer").token, admin] {
            let display = stream(token: token)
            let snapshot = try display.wait(for: "the snapshot") { $0.type == "snapshot" }
            #expect(snapshot.lines == ["ana=10"])
        }
    }

    @Test func aStreamWhoseTokenIsRevokedIsClosedWithinFiveSeconds() throws {
        let viewer = try mint("default", "viewer")
        let kept = try mint("default", "viewer")
        let display = stream(token: viewer.token)
        let other = stream(token: kept.token)
        _ = try display.wait(for: "the snapshot") { $0.type == "snapshot" }
        _ = try other.wait(for: "the other snapshot") { $0.type == "snapshot" }

        let (status, _) = try httpRequest(port: stack.leaderboardHTTPPort, "DELETE", "/v1/orgs/default/tokens/\(viewer.id)", token: admin)
        #expect(status == 204)
        let revoked = ContinuousClock.now
        try wait("the revoked stream to be closed", seconds: 15) { display.closedWith != nil || display.ended != nil }
        let took = ContinuousClock.now - revoked
        #expect(took < .seconds(5), "closed after \(took)")
        #expect(display.closedWith?.code == 4401)
        #expect(display.closedWith?.reason == "token: revoked")
        // Reconnecting with it is refused; the stream of a token still valid goes on.
        #expect(try closed(stream(token: viewer.token))?.code == 4401)
        let reply = try app.request(eventJSON(id: "s2", rep: "bo", kind: "demo", at: rfc3339(Date())))
        #expect(reply?.results?.first?.status == "accepted")
        _ = try other.wait(for: "the other's update") { $0.type == "update" && Set($0.lines) == ["ana=10", "bo=10"] }
        #expect(other.closedWith == nil)
    }

    @Test func orgsWhoseTokensCannotBeReadDoNotKeepARevokedStreamOfAnotherOrgOpen() throws {
        // Five orgs' streams whose tokens then cannot be read (their hash made a string by
        // hand: every look-up answers WRONGTYPE), and one of default's, whose token is revoked.
        let redis = RedisConnection(stack.redis.configuration)
        var broken: [StreamClient] = []
        for org in (1...5).map({ "broken\($0)" }) {
            let reply = try app.request(eventJSON(id: "\(org)-1", org: org, rep: "ana", kind: "call", at: rfc3339(Date())))
            #expect(reply?.results?.first?.status == "accepted")
            let token = try mint(org, "viewer").token
            let display = StreamClient(url: "ws://127.0.0.1:\(stack.notificationHTTPPort)/v1/stream?org=\(org)&board=points:all:reps&token=\(token)")
            _ = try display.wait(for: "\(org)'s snapshot") { $0.type == "snapshot" }
            broken.append(display)
            try redis.send("DEL", "{\(org)}:token-hashes")
            try redis.send("SET", "{\(org)}:token-hashes", "not a hash")
        }
        let viewer = try mint("default", "viewer")
        let display = stream(token: viewer.token)
        _ = try display.wait(for: "the snapshot") { $0.type == "snapshot" }

        let (status, _) = try httpRequest(port: stack.leaderboardHTTPPort, "DELETE", "/v1/orgs/default/tokens/\(viewer.id)", token: admin)
        #expect(status == 204)
        try wait("the revoked stream to be closed", seconds: 15) { display.closedWith != nil || display.ended != nil }
        #expect(display.closedWith?.reason == "token: revoked")
        // The broken orgs' streams are neither closed nor able to stop the others' checks.
        #expect(broken.allSatisfy { $0.closedWith == nil })
    }

    @Test func openReadsLetAnyoneStream() throws {
        try stack.stopNotification()
        try stack.startNotification(["--open-reads"])
        let display = stream(token: nil)
        #expect(try display.wait(for: "the snapshot") { $0.type == "snapshot" }.lines == ["ana=10"])
    }
}
