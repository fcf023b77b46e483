import Foundation
import Testing
import TallyDomain

@Suite struct RulesTests {
    @Test func defaultsAreTheSpecs() {
        let rules = Rules.default
        #expect(rules.timeZone.secondsFromGMT() == 0 && rules.weekStart == .monday && rules.retentionDays == 400)
        let points = rules.metric(named: "points")!
        #expect(["door_knock", "call", "email", "appointment", "demo", "proposal", "deal_won"].map {
            points.amount(kind: $0, value: 999)
        } == [1, 1, 1, 5, 10, 15, 50])
        #expect(rules.metric(named: "revenue")!.amount(kind: "deal_won", value: 1250) == 1250)
        #expect(rules.metric(named: "revenue")!.amount(kind: "call", value: 1250) == nil)
        #expect(rules.boardIDs.count == 5 * 8 * 2)
    }

    @Test func yamlRulesOverrideWhatTheyName() throws {
        let rules = try Rules.parse("""
            timezone: Europe/Berlin
            week_starts: sunday
            kinds: [door_knock, sale]
            metrics:
              score: {door_knock: 2, sale: 20}
              sales_value: {sale: value}
            retention_days: 30
            """)
        #expect(rules.timeZone.identifier == "Europe/Berlin")
        #expect(rules.weekStart == .sunday)
        #expect(rules.metrics.map(\.name) == ["sales_value", "score"])
        #expect(rules.metric(named: "score")?.amount(kind: "sale", value: 5) == 20)
        #expect(rules.metric(named: "sales_value")?.amount(kind: "sale", value: 5) == 5)
        #expect(rules.retentionDays == 30)
        #expect(rules.windows == Window.allCases)
    }

    @Test func jsonRulesWork() throws {
        let rules = try Rules.parse(#"{"timezone": "America/Los_Angeles", "windows": ["today", "7d"], "scopes": ["reps"]}"#)
        #expect(rules.timeZone.identifier == "America/Los_Angeles")
        #expect(rules.boardIDs.count == 5 * 2)
    }

    @Test func logDaysZeroKeepsNoLog() throws {
        #expect(try Rules.parse("log_days: 0").keepsLog == false)
        #expect(try Rules.parse("log_days: 1").keepsLog)
        #expect(Rules.default.logDays == 90 && Rules.default.keepsLog)
    }

    @Test(arguments: [
        ("timezone: Mars/Base", "timezone"),
        ("week_starts: someday", "week_starts"),
        ("metrics: {points: {dance: 3}}", "metrics.points.dance"),
        ("metrics: {points: {call: lots}}", "metrics.points.call"),
        ("windows: [today, fortnight]", "windows"),
        ("scopes: [regions]", "scopes"),
        ("retention_days: -1", "retention_days"),
        ("log_days: -1", "log_days"),
        ("log_days: 3651", "log_days"),
        ("colour: blue", "colour"),
        ("- a list", "rules"),
    ])
    func aWrongSettingNamesItsKey(yaml: String, key: String) {
        #expect(throws: RulesError.self) { try Rules.parse(yaml) }
        do {
            _ = try Rules.parse(yaml)
        } catch {
            #expect(error.key == key)
        }
    }

    @Test func rulesFilesAreReadPerOrg() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "timezone: Europe/Berlin".write(to: directory.appendingPathComponent("acme.yaml"), atomically: true, encoding: .utf8)
        let book = try RulesBook.load(directory: directory.path)
        #expect(book.rules(for: "acme").timeZone.identifier == "Europe/Berlin")
        #expect(book.rules(for: "other") == .default)

        try "timezone: Nowhere".write(to: directory.appendingPathComponent("bad.json"), atomically: true, encoding: .utf8)
        #expect(throws: RulesError(key: "bad.json: timezone", problem: "unknown time zone 'Nowhere' (use an IANA name such as Europe/Berlin)")) {
            try RulesBook.load(directory: directory.path)
        }
    }
}
