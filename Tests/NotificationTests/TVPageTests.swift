import Foundation
import TallyTesting
import Testing

/// The TV page in a real headless Chromium, against the real stack: what a sales office sees.
@Suite(.serialized) final class TVPageTests: @unchecked Sendable {
    let stack: TallyStack
    let app: FieldApp
    var events = 0
    /// Screenshots for people to look at; `.build` is not committed.
    static let screenshots = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/screenshots")

    init() throws {
        stack = try TallyStack()
        try stack.startWithNotification()
        app = try FieldApp(stack.endpoint)
    }

    func send(_ rep: String, _ kind: String, name: String, team: String = "north", value: Double? = nil) throws {
        events += 1
        let reply = try app.request(eventJSON(
            id: "tv-\(events)", rep: rep, name: name, team: team, kind: kind, value: value, at: rfc3339(Date())))
        #expect(reply?.results?.first?.status == "accepted", "\(String(describing: reply))")
    }

    @Test func anAddressTheServerWouldRefuseSaysWhyOnTheScreen() throws {
        let browser = try Browser(width: 1280, height: 720)
        let boards = (1...33).map { "board=points:today:reps\($0)" }.joined(separator: "&")
        try browser.open("\(stack.notificationURL)/tv?org=default&\(boards)")
        try wait("the reason on the screen") {
            try browser.texts("#error").joined().contains("at most 32 boards on one page (this address has 33)")
        }
        try browser.open("\(stack.notificationURL)/tv?org=Berlin%20Office&board=points:today:reps")
        try wait("the reason on the screen") {
            try browser.texts("#error").joined().contains("org: must be 1 to 64 characters of a-z, 0-9 and -")
        }
        #expect(browser.errors == [], "no console errors")
    }

    @Test func theTVPageShowsTheBoardLiveAndComesBackAfterARestart() throws {
        let hostile = "<img src=x onerror=alert(1)>"
        // Points: door knock 1, call 1, demo 10, deal 50.
        for _ in 0..<3 { try send("ana", "door_knock", name: "Ana Lopez") }
        for _ in 0..<2 { try send("x", "call", name: hostile, team: "south") }
        try send("ben", "call", name: "Ben Okafor", team: "east")

        let browser = try Browser(width: 1920, height: 1080)
        try browser.open("\(stack.notificationURL)/tv?org=default&board=points:all:reps&rows=10&title=Berlin%20office")
        try wait("the board on the page") {
            try browser.texts(".row .name") == ["Ana Lopez", hostile, "Ben Okafor"]
        }
        #expect(try browser.texts(".row .score") == ["3", "2", "1"])
        #expect(try browser.texts(".row .rank") == ["1", "2", "3"])
        #expect(try browser.texts("#title").first?.contains("Berlin office") == true)
        // The hostile name is text: no image element was made of it, no dialog opened.
        #expect(try browser.evaluate("document.querySelectorAll('#rows img').length") as? Int == 0)
        #expect(browser.errors == [], "the page loads with no console errors")

        try browser.resize(width: 1920, height: 1080)
        try browser.screenshot(to: Self.screenshots.appendingPathComponent("tv-1920x1080.png"))
        try browser.resize(width: 1280, height: 720)
        try browser.screenshot(to: Self.screenshots.appendingPathComponent("tv-1280x720.png"))
        #expect(try browser.evaluate("document.documentElement.scrollHeight <= innerHeight") as? Bool == true, "no scrolling at 720p")

        // Ben's demo takes him to the top; the rows follow.
        try send("ben", "demo", name: "Ben Okafor", team: "east")
        try wait("the new order") { try browser.texts(".row .name") == ["Ben Okafor", "Ana Lopez", hostile] }
        #expect(try browser.texts(".row .score") == ["11", "3", "2"])

        // A deal is announced, in a lower third.
        try send("ana", "deal_won", name: "Ana Lopez", value: 12_500)
        try wait("the deal's lower third") { try browser.texts("#lower").joined().contains("Ana Lopez") }
        try wait("Ana back on top") { try browser.texts(".row .name").first == "Ana Lopez" }
        try browser.screenshot(to: Self.screenshots.appendingPathComponent("tv-1280x720-deal.png"))
        #expect(browser.errors == [])

        // tally-notification restarts: the page says it is reconnecting, then recovers by itself.
        try stack.stopNotification()
        try wait("the page to notice") {
            try browser.evaluate("document.getElementById('status').dataset.state") as? String == "reconnecting"
        }
        try stack.startNotification()
        try wait("the page to reconnect", seconds: 30) {
            try browser.evaluate("document.getElementById('status').dataset.state") as? String == "connected"
        }
        try send("cy", "demo", name: "Cy Park", team: "west")
        try send("cy", "demo", name: "Cy Park", team: "west")
        try send("cy", "demo", name: "Cy Park", team: "west")
        try send("cy", "demo", name: "Cy Park", team: "west")
        try send("cy", "demo", name: "Cy Park", team: "west")
        try send("cy", "demo", name: "Cy Park", team: "west")
        try wait("updates after the restart", seconds: 30) {
            try browser.texts(".row .name") == ["Cy Park", "Ana Lopez", "Ben Okafor", hostile]
        }
        #expect(try browser.texts(".row .score") == ["60", "53", "11", "2"])
        // While the service was down the browser logged its failed connection attempts;
        // nothing else went wrong.
        let other = browser.errors.filter { !$0.contains("WebSocket") && !$0.contains("ERR_CONNECTION_REFUSED") }
        #expect(other == [], "\(browser.errors)")
    }
}

/// The TV page against a closed stack (no `--open-reads`): the viewer token in its address is
/// what lets it show the board, and without one the screen says what is missing.
@Suite(.serialized) final class TVPageAccessTests: @unchecked Sendable {
    let admin = "admin-secret-for-tv"
    let stack: TallyStack

    init() throws {
        stack = try TallyStack(openReads: false, adminToken: admin)
        try stack.startWithNotification()
        try stack.startLeaderboard()
        let app = try FieldApp(stack.endpoint)
        // Points: a demo is 10, a call 1.
        for (id, rep, name, kind) in [("t1", "ana", "Ana Lopez", "demo"), ("t2", "ben", "Ben Okafor", "call")] {
            let reply = try app.request(eventJSON(id: id, rep: rep, name: name, team: "north", kind: kind, at: rfc3339(Date())))
            guard reply?.results?.first?.status == "accepted" else { throw TestSetupError("not accepted: \(String(describing: reply))") }
        }
    }

    func mint(_ org: String) throws -> (id: String, token: String) {
        let (status, body) = try httpRequest(
            port: stack.leaderboardHTTPPort, "POST", "/v1/orgs/\(org)/tokens", token: admin, body: #"{"role": "viewer", "name": "TV"}"#)
        let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        guard status == 201, let id = json?["id"] as? String, let token = json?["token"] as? String else {
            throw TestSetupError("no token: \(status) \(body)")
        }
        return (id, token)
    }

    var page: String { "\(stack.notificationURL)/tv?org=default&board=points:all:reps" }

    @Test func withAViewerTokenTheBoardShowsAndWithoutOneTheScreenSaysWhatIsMissing() throws {
        let browser = try Browser(width: 1280, height: 720)
        try browser.open(page)
        try wait("the reason on the screen") {
            try browser.texts("#empty").joined() == "This display needs a viewer token: add &token=… to its address"
        }
        #expect(try browser.texts(".row .name") == [])
        #expect(try browser.evaluate("document.getElementById('status').textContent") as? String == "no access")
        try browser.screenshot(to: TVPageTests.screenshots.appendingPathComponent("tv-no-token-1280x720.png"))

        let viewer = try mint("default")
        try browser.open(page + "&token=\(viewer.token)")
        try wait("the board on the page") { try browser.texts(".row .name") == ["Ana Lopez", "Ben Okafor"] }
        #expect(try browser.texts(".row .score") == ["10", "1"])
        #expect(try browser.texts("#empty").joined().isEmpty || (try browser.evaluate("document.getElementById('empty').hidden") as? Bool) == true)

        // Revoked: the open page loses the board and says its token is no longer valid.
        let (status, _) = try httpRequest(port: stack.leaderboardHTTPPort, "DELETE", "/v1/orgs/default/tokens/\(viewer.id)", token: admin)
        #expect(status == 204)
        try wait("the revocation on the screen", seconds: 20) {
            try browser.texts("#empty").joined().hasPrefix("This display's token is not valid (unknown or revoked)")
        }
        #expect(try browser.texts(".row .name") == [])

        // A token of another org is told apart.
        try browser.open(page + "&token=\(try mint("other").token)")
        try wait("the other org's refusal on the screen") {
            try browser.texts("#empty").joined().hasPrefix("This display's token is for another org, not \"default\"")
        }
        let unexpected = browser.errors.filter { !$0.contains("WebSocket") }
        #expect(unexpected == [], "\(browser.errors)")
    }
}
