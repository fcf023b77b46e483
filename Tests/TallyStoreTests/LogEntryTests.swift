import Foundation
import TallyDomain
import TallyStore
import Testing

/// The activity log's entries in their short form: what follows from the rest is left out, and
/// every entry reads back as the event and contribution it was written from, old entries too.
@Suite struct LogEntryTests {
    /// Thursday 2026-12-03 10:00 UTC: week 49 (weeks start on Monday), Q4.
    static let thursday: Int64 = 1_796_292_000_000
    /// Friday 2027-01-01 12:00 UTC: still week 53 of 2026.
    static let newYear: Int64 = 1_798_804_800_000
    /// Tuesday 2026-12-01 03:00 UTC: Monday 2026-11-30 in Los Angeles.
    static let lateMonday: Int64 = 1_796_094_000_000

    static func entries(_ events: [ActivityEvent], rules: Rules = .default) -> [(ScoringPlan.Entry, String)] {
        let plan = ScoringPlan(org: "acme", events: events, rules: rules)
        return Array(zip(plan.entries, LogEntry.accepted(plan.entries)))
    }

    @Test func aDealUnderTheDefaultRulesIsLoggedInShort() {
        let deal = ActivityEvent(id: "d1", org: "acme", rep: "ana", team: "north", kind: "deal_won", value: 2500, at: Self.thursday)
        let demo = ActivityEvent(id: "m1", org: "acme", rep: "bo", repName: "Bo", kind: "demo", at: Self.thursday)
        // Default metrics: a deal is 50 points, its value in revenue, one deal; a demo 10 points.
        #expect(Self.entries([deal, demo]).map(\.1) == [
            #"{"id":"d1","rep":"ana","team":"north","kind":"deal_won","value":2500,"at":1796292000000,"c":{"m":{"deals":1,"points":50,"revenue":2500},"d":"2026-12-03","wk":"2026-W49"}}"#,
            #"{"id":"m1","rep":"bo","name":"Bo","kind":"demo","at":1796292000000,"c":{"m":{"points":10},"d":"2026-12-03","wk":"2026-W49"}}"#,
        ])
    }

    @Test(arguments: [
        // A week across the new year, a time zone behind UTC across a month's end, a team, a
        // name, a value of 1 and of 0.5, rules without every calendar window.
        ("newYear", Rules.default, ActivityEvent(id: "n1", org: "acme", rep: "ana", team: "north", kind: "deal_won", value: 0.5, at: newYear)),
        ("losAngeles", { var r = Rules.default; r.timeZone = TimeZone(identifier: "America/Los_Angeles")!; return r }(),
         ActivityEvent(id: "l1", org: "acme", rep: "bo", repName: "Bo \"B\" Ng", kind: "deal_won", value: 1, at: lateMonday)),
        ("fewWindows", { var r = Rules.default; r.windows = [.today, .month, .rolling7]; r.scopes = [.reps]; return r }(),
         ActivityEvent(id: "f1", org: "acme", rep: "cy", team: "south", kind: "call", at: thursday)),
    ])
    func everyEntryReadsBackAsWritten(_ label: String, _ rules: Rules, _ event: ActivityEvent) throws {
        let (entry, json) = try #require(Self.entries([event], rules: rules).first)
        let read = try #require(LogEntry.decode(Data(json.utf8)), "\(label): \(json)")
        #expect(read.status == "accepted")
        #expect(read.event(org: "acme") == event, "\(label): \(json)")
        #expect(read.contribution == entry.contribution, "\(label): \(json)")
    }

    @Test func theShortFormIsUsedOnlyWhereItSaysEverything() throws {
        // Los Angeles: the periods of the local day, 2026-11-30, in short.
        var pacific = Rules.default
        pacific.timeZone = TimeZone(identifier: "America/Los_Angeles")!
        let late = ActivityEvent(id: "l1", org: "acme", rep: "bo", kind: "call", at: Self.lateMonday)
        #expect(try #require(Self.entries([late], rules: pacific).first).1.contains(#""d":"2026-11-30","wk":"2026-W49""#))
        // Without the week window, the periods whole; with reps only, the members whole (the
        // event's team is not among them).
        var few = Rules.default
        few.windows = [.today, .month]
        few.scopes = [.reps]
        let call = ActivityEvent(id: "f1", org: "acme", rep: "cy", team: "south", kind: "call", at: Self.thursday)
        let json = try #require(Self.entries([call], rules: few).first).1
        #expect(json.hasSuffix(#""c":{"m":{"points":1},"w":{"month":"2026-12","today":"2026-12-03"},"s":{"reps":"cy"}}}"#), "\(json)")
    }

    @Test func anEntryWrittenBeforeTheShortFormReadsTheSame() throws {
        let old = #"{"t":"accepted","id":"d1","rep":"ana","team":"north","kind":"deal_won","value":2500.0,"at":1796292000000,"c":{"m":{"deals":1.0,"points":50.0,"revenue":2500.0},"w":{"all":"all","month":"2026-12","quarter":"2026-Q4","today":"2026-12-03","week":"2026-W49","year":"2026"},"s":{"reps":"ana","teams":"north"},"x":[]}}"#
        let deal = ActivityEvent(id: "d1", org: "acme", rep: "ana", team: "north", kind: "deal_won", value: 2500, at: Self.thursday)
        let (_, short) = try #require(Self.entries([deal]).first)
        let read = try #require(LogEntry.decode(Data(old.utf8)))
        #expect(read == LogEntry.decode(Data(short.utf8)))
        #expect(read.contribution?.periods == [
            "today": "2026-12-03", "week": "2026-W49", "month": "2026-12", "quarter": "2026-Q4", "year": "2026", "all": "all",
        ])
        // Four bytes in ten fewer for the same entry (170 against 311 when written).
        #expect(short.utf8.count * 10 <= old.utf8.count * 6, "\(short.utf8.count) bytes against \(old.utf8.count)")
        // A retraction has no event, and says so.
        let retraction = try #require(LogEntry.decode(Data(LogEntry.retracted(id: "d1", by: "admin").utf8)))
        #expect(retraction.status == "retracted" && retraction.event(org: "acme") == nil && retraction.by == "admin")
    }
}
