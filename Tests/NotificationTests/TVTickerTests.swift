import Foundation
import TallyTesting
import Testing

/// The TV page's ticker and announcements in a real headless Chromium, against the real stack
/// (with the leaderboard, for corrections): news that leaves the board readable.
@Suite(.serialized) final class TVTickerTests: @unchecked Sendable {
    let admin = "admin-secret-for-tv"
    let stack: TallyStack
    let app: FieldApp
    var events = 0

    init() throws {
        stack = try TallyStack(adminToken: admin)
        try stack.startWithNotification()
        try stack.startLeaderboard()
        app = try FieldApp(stack.endpoint)
        Thread.sleep(forTimeInterval: 1)  // the leaderboard's publisher reaches notification
    }

    @discardableResult
    func send(_ rep: String, _ kind: String, name: String?, value: Double? = nil) throws -> String {
        events += 1
        let id = "tk-\(events)"
        let reply = try app.request(eventJSON(id: id, rep: rep, name: name, team: "north", kind: kind, value: value, at: rfc3339(Date())))
        #expect(reply?.results?.first?.status == "accepted", "\(String(describing: reply))")
        return id
    }

    @Test func theTickerShowsNotableEventsByNameAsTextAndARetractedOneLeavesIt() throws {
        let hostile = "<b>Bo</b> & <i>co</i>"
        let (status, _) = try httpRequest(
            port: stack.leaderboardHTTPPort, "PUT", "/v1/orgs/default/reps/ana", token: admin, body: #"{"name": "Ana López"}"#)
        #expect(status == 200)
        let browser = try Browser(width: 1280, height: 720)
        try browser.open("\(stack.notificationURL)/tv?org=default&board=points:today:reps&ticker=1")
        try wait("the page to connect") { try browser.evaluate("document.getElementById('status')?.dataset.state") as? String == "connected" }

        // A call is not a feed kind; a demo is. ana's events carry no name: the directory names her.
        try send("ana", "call", name: nil)
        let demo = try send("ana", "demo", name: nil)
        try wait("the demo in the ticker") { try browser.texts("#ticker .tick").first == "Ana López booked a demo · just now" }
        #expect(try browser.texts("#ticker .tick").count == 1)
        try send("bo", "appointment", name: hostile)
        try wait("the appointment first") { try browser.texts("#ticker .tick .who") == [hostile, "Ana López"] }
        #expect(try browser.evaluate("document.querySelectorAll('#ticker b, #ticker i').length") as? Int == 0)
        try browser.screenshot(to: TVPageTests.screenshots.appendingPathComponent("tv-ticker-1280x720.png"))

        // Retracted, the demo leaves the ticker (and the board loses its 10 points).
        let (retracted, body) = try httpRequest(port: stack.leaderboardHTTPPort, "DELETE", "/v1/orgs/default/events/\(demo)", token: admin)
        #expect(retracted == 200, "\(body)")
        try wait("the demo gone from the ticker") { try browser.texts("#ticker .tick .who") == [hostile] }
        try wait("the board corrected") { try browser.texts(".row .score") == ["5", "1"] }
        #expect(browser.errors == [], "\(browser.errors)")
    }

    @Test func anAmendedEventShowsInTheTickerAsNowRecorded() throws {
        for (rep, name) in [("ana", "Ana López"), ("ben", "Ben Okafor")] {
            let (status, body) = try httpRequest(
                port: stack.leaderboardHTTPPort, "PUT", "/v1/orgs/default/reps/\(rep)", token: admin, body: #"{"name": "\#(name)"}"#)
            #expect(status == 200, "\(body)")
        }
        let browser = try Browser(width: 1280, height: 720)
        try browser.open("\(stack.notificationURL)/tv?org=default&board=points:today:reps&ticker=1")
        try wait("the page to connect") { try browser.evaluate("document.getElementById('status')?.dataset.state") as? String == "connected" }
        func amend(_ id: String, _ changes: String) throws {
            let (status, body) = try httpRequest(port: stack.leaderboardHTTPPort, "PATCH", "/v1/orgs/default/events/\(id)", token: admin, body: changes)
            #expect(status == 200, "\(body)")
        }

        let demo = try send("ana", "demo", name: nil)
        try wait("the demo in the ticker") { try browser.texts("#ticker .tick") == ["Ana López booked a demo · just now"] }
        // Moved to ben and made a proposal: the same item, his name, its new wording.
        try amend(demo, #"{"rep": "ben", "kind": "proposal"}"#)
        try wait("the amended item") { try browser.texts("#ticker .tick") == ["Ben Okafor sent a proposal · just now"] }
        // A call is not in the ticker; amended into an appointment, it comes in (the newer, first).
        let call = try send("ana", "call", name: nil)
        try amend(call, #"{"kind": "appointment"}"#)
        try wait("the appointment in the ticker") {
            try browser.texts("#ticker .tick") == ["Ana López booked an appointment · just now", "Ben Okafor sent a proposal · just now"]
        }
        // Amended into a kind the ticker does not show (an email), the proposal leaves it.
        try amend(demo, #"{"kind": "email"}"#)
        try wait("the proposal gone") { try browser.texts("#ticker .tick") == ["Ana López booked an appointment · just now"] }
        // The board as now recorded: ana's appointment 5 points, ben's email 1 (default rules).
        try wait("the board corrected") { try browser.texts(".row .score") == ["5", "1"] }
        #expect(try browser.texts(".row .name") == ["Ana López", "Ben Okafor"])
        #expect(browser.errors == [], "\(browser.errors)")
    }

    /// Whether the middle of every row is the row itself, not something drawn over it.
    let rowsVisible = """
        Array.from(document.querySelectorAll('#rows .row')).every((row) => {
          const r = row.getBoundingClientRect();
          const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          return r.bottom <= innerHeight && hit !== null && row.contains(hit);
        })
        """

    @Test func aContestStartTakesTheLowerThirdAndItsFinishTheBanner() throws {
        for (rep, name) in [("ana", "Ana López"), ("ben", "Ben Okafor")] {
            try send(rep, "demo", name: name)
        }
        let browser = try Browser(width: 1280, height: 720)
        try browser.open("\(stack.notificationURL)/tv?org=default&board=points:today:reps")
        try wait("the board") { try browser.texts(".row .name").count == 2 }
        // A 4-second contest starting now, no grace: the leaderboard announces its start, then its end.
        let start = Date()
        let contest = #"{"id": "blitz", "name": "Door blitz", "metric": "doors", "starts_at": "\#(rfc3339(start))", "ends_at": "\#(rfc3339(start.addingTimeInterval(4)))", "grace_seconds": 0}"#
        let (status, body) = try httpRequest(port: stack.leaderboardHTTPPort, "POST", "/v1/orgs/default/contests", token: admin, body: contest)
        #expect(status == 201, "\(body)")
        try wait("the start in the lower third") { try browser.texts("#lower").joined().contains("Contest started: Door blitz") }
        #expect(try browser.evaluate(rowsVisible) as? Bool == true, "the start covers a row")
        #expect(try browser.texts("#banner").joined() == "")
        try wait("the finish in the banner", seconds: 20) { try browser.texts("#banner").joined().contains("Door blitz finished") }
        #expect(browser.errors == [], "\(browser.errors)")
    }

    @Test func whileDealsArriveEveryTwoSecondsTheRowsStayVisible() throws {
        for (rep, name) in [("ana", "Ana López"), ("ben", "Ben Okafor"), ("cy", "Cy Park"), ("di", "Di Ng")] {
            try send(rep, "demo", name: name)
        }
        let browser = try Browser(width: 1280, height: 720)
        try browser.open("\(stack.notificationURL)/tv?org=default&board=points:today:reps&ticker=1")
        try wait("the board") { try browser.texts(".row .name").count == 4 }
        var sawBurst = false
        var sawSingle = false
        for round in 0..<8 {
            let reps = ["ana", "ben", "cy", "di"]
            try send(reps[round % 4], "deal_won", name: nil, value: 1000)
            Thread.sleep(forTimeInterval: 1)
            let lower = try browser.texts("#lower").joined()
            sawSingle = sawSingle || lower.contains("closed a deal")
            sawBurst = sawBurst || lower.contains("deals in the last minute")
            #expect(try browser.evaluate(rowsVisible) as? Bool == true, "round \(round): a row is covered (\(lower))")
            try browser.screenshot(to: TVPageTests.screenshots.appendingPathComponent("tv-deals-\(round).png"), settle: 0)
            #expect(try browser.evaluate(rowsVisible) as? Bool == true, "round \(round), at the screenshot: a row is covered")
            Thread.sleep(forTimeInterval: 1)
        }
        // The first deal gets its own lower third; the ones that come while it shows, one for all.
        #expect(sawSingle)
        #expect(sawBurst)
        #expect(browser.errors == [], "\(browser.errors)")
    }
}
