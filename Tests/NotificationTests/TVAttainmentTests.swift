import Foundation
import TallyTesting
import Testing

/// An attainment board on the TV page in a real headless Chromium, against the real stack (with
/// the leaderboard, for quotas): each row a progress bar with the 100% line, milestones in the
/// lower third, nothing overflowing at 1080p or 720p.
@Suite(.serialized) final class TVAttainmentTests: @unchecked Sendable {
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

    func deal(_ rep: String, _ name: String, _ value: Double) throws {
        events += 1
        let reply = try app.request(eventJSON(id: "ta-\(events)", rep: rep, name: name, kind: "deal_won", value: value, at: rfc3339(Date())))
        #expect(reply?.results?.first?.status == "accepted", "\(String(describing: reply))")
    }

    func putQuotas(_ targets: [(String, Double)]) throws {
        let entries = targets.map { #"{"metric": "revenue", "window": "month", "scope": "reps", "member": "\#($0.0)", "target": \#($0.1)}"# }
        let (status, body) = try httpRequest(
            port: stack.leaderboardHTTPPort, "PUT", "/v1/orgs/default/quotas", token: admin,
            body: #"{"quotas": [\#(entries.joined(separator: ", "))]}"#)
        #expect(status == 200, "\(body)")
    }

    /// Each row's fill and 100% line as fractions of the row's width, e.g. "0.96|0.80".
    let bars = """
        Array.from(document.querySelectorAll('#rows .row')).map((row) => {
          const r = row.getBoundingClientRect();
          const fill = row.querySelector('.fill').getBoundingClientRect();
          const goal = row.querySelector('.goal').getBoundingClientRect();
          return (fill.width / r.width).toFixed(2) + '|' + ((goal.left - r.left) / r.width).toFixed(2);
        })
        """

    /// Whether the middle of every row is the row itself, not something drawn over it.
    let rowsVisible = """
        Array.from(document.querySelectorAll('#rows .row')).every((row) => {
          const r = row.getBoundingClientRect();
          const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          return r.bottom <= innerHeight && hit !== null && row.contains(hit);
        })
        """

    /// Whether the page fits the screen and every part of every row lies inside its row.
    let fits = """
        document.documentElement.scrollWidth <= innerWidth && document.documentElement.scrollHeight <= innerHeight &&
        Array.from(document.querySelectorAll('#rows .row')).every((row) => {
          const r = row.getBoundingClientRect();
          return r.bottom <= innerHeight && Array.from(row.querySelectorAll('.rank, .name, .score, .of, .val, .fill, .goal')).every((part) => {
            const p = part.getBoundingClientRect();
            return p.left >= r.left - 0.5 && p.right <= r.right + 0.5 && p.top >= r.top - 0.5 && p.bottom <= r.bottom + 0.5;
          });
        })
        """

    @Test func anAttainmentBoardIsDrawnAsProgressBarsAndAMilestoneTakesTheLowerThird() throws {
        try putQuotas([("ana", 20000), ("ben", 10000), ("cy", 5000), ("di", 8000)])
        try deal("ana", "Ana López", 10000)  // 50%
        try deal("ben", "Ben Okafor", 12000)  // 120%
        try deal("cy", "Cy Park", 1000)  // 20%
        try deal("di", "Di Ng", 8000)  // 100%

        let browser = try Browser(width: 1920, height: 1080)
        try browser.open("\(stack.notificationURL)/tv?org=default&board=attainment:revenue:month:reps")
        try wait("the board") { try browser.texts(".row .name") == ["Ben Okafor", "Di Ng", "Ana López", "Cy Park"] }
        #expect(try browser.texts(".row .val") == ["120%", "100%", "50%", "20%"])
        #expect(try browser.texts(".row .of") == ["12,000 of 10,000", "8,000 of 8,000", "10,000 of 20,000", "1,000 of 5,000"])
        #expect(try browser.texts("#board-label").first?.contains("% of quota") == true)
        // One scale for all rows, here 125% (the least, as nobody is above it): ben's bar fills
        // 1.2 ÷ 1.25 of his row, di's 0.8, ana's 0.4, cy's 0.16; the 100% line at 0.8.
        try wait("the bars grown") { try browser.evaluate(bars) as? [String] == ["0.96|0.80", "0.80|0.80", "0.40|0.80", "0.16|0.80"] }
        #expect(try browser.evaluate("Array.from(document.querySelectorAll('#rows .row.reached')).map((r) => r.dataset.member)") as? [String] == ["ben", "di"])
        #expect(try browser.evaluate(fits) as? Bool == true, "overflow at 1920×1080")
        try browser.screenshot(to: TVPageTests.screenshots.appendingPathComponent("tv-attainment-1920x1080.png"))
        try browser.resize(width: 1280, height: 720)
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try browser.evaluate(fits) as? Bool == true, "overflow at 1280×720")
        #expect(try browser.evaluate(bars) as? [String] == ["0.96|0.80", "0.80|0.80", "0.40|0.80", "0.16|0.80"])
        try browser.screenshot(to: TVPageTests.screenshots.appendingPathComponent("tv-attainment-1280x720.png"))

        // cy's deal of 4,000 takes her to 100%, behind di who got there first; the milestone
        // (the highest crossed, 100%) takes the lower third, and the rows stay readable.
        try deal("cy", "Cy Park", 4000)
        try wait("cy at 100%") { try browser.texts(".row .name") == ["Ben Okafor", "Di Ng", "Cy Park", "Ana López"] }
        try wait("the milestone") { try browser.texts("#lower").joined().contains("Cy Park reached 100% of quota") }
        #expect(try browser.texts("#lower .lower-sub") == ["Revenue · This month"])
        #expect(try browser.evaluate(rowsVisible) as? Bool == true, "the milestone covers a row")
        try browser.screenshot(to: TVPageTests.screenshots.appendingPathComponent("tv-attainment-milestone-1280x720.png"))

        // A higher scale when someone is further ahead: ana's target down to 5,000 puts her at
        // 200%, the bars' scale with her; the 100% line at 0.5 and ben's bar at 0.6. A quota
        // change is not the rep's achievement: no milestone for it.
        try putQuotas([("ana", 5000)])
        try wait("ana on top") { try browser.texts(".row .name").first == "Ana López" }
        try wait("the bars rescaled") { try browser.evaluate(bars) as? [String] == ["1.00|0.50", "0.60|0.50", "0.50|0.50", "0.50|0.50"] }
        #expect(try browser.evaluate(fits) as? Bool == true, "overflow at 200%")
        Thread.sleep(forTimeInterval: 5)  // past cy's lower third
        #expect(try !browser.texts("#lower").joined().contains("Ana"))

        // The metric's own board: scores as usual, each row filled to its attainment.
        try browser.open("\(stack.notificationURL)/tv?org=default&board=revenue:month:reps")
        try wait("the revenue board") { try browser.texts(".row .val") == ["12,000", "10,000", "8,000", "5,000"] }
        #expect(try browser.texts(".row .of") == ["120% of 10,000", "200% of 5,000", "100% of 8,000", "100% of 5,000"])
        #expect(try browser.evaluate(fits) as? Bool == true, "overflow on the revenue board")
        #expect(browser.errors == [], "\(browser.errors)")
    }
}
