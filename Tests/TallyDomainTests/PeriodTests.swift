import Foundation
import Testing
import TallyDomain

@Suite struct PeriodTests {
    func ms(_ text: String) -> Int64 { Timestamp.parse(text)! }
    let berlin = TimeZone(identifier: "Europe/Berlin")!
    let losAngeles = TimeZone(identifier: "America/Los_Angeles")!
    let utc = TimeZone(identifier: "UTC")!

    func periods(_ at: String, _ zone: TimeZone, weekStart: Weekday = .monday) -> [String] {
        let date = LocalDate(milliseconds: ms(at), in: zone)
        return [Window.today, .week, .month, .quarter, .year, .all].map { $0.period(of: date, weekStart: weekStart) }
    }

    @Test func civilDatesRoundTrip() {
        #expect(LocalDate(daysSinceEpoch: 0) == LocalDate(year: 1970, month: 1, day: 1))
        #expect(LocalDate(year: 2026, month: 11, day: 29).daysSinceEpoch == 20_786)
        #expect(LocalDate(year: 2024, month: 2, day: 29).adding(days: 1) == LocalDate(year: 2024, month: 3, day: 1))
        #expect(LocalDate(year: 2026, month: 11, day: 29).isoWeekday == 7)  // a Sunday
        #expect(LocalDate(label: "2026-02-30") == nil)
        #expect(LocalDate(label: "2026-11-29") == LocalDate(year: 2026, month: 11, day: 29))
    }

    @Test func nearMidnightTheOrgsZoneDecidesTheDay() {
        // 23:30 UTC on the 28th is already the 29th in Berlin (UTC+1 in November)...
        #expect(periods("2026-11-28T23:30:00Z", berlin) == ["2026-11-29", "2026-W48", "2026-11", "2026-Q4", "2026", "all"])
        #expect(periods("2026-11-28T23:30:00Z", utc)[0] == "2026-11-28")
        // ...and 07:30 UTC on the 29th is still the 28th in Los Angeles (UTC-8).
        #expect(periods("2026-11-29T07:30:00Z", losAngeles)[0] == "2026-11-28")
        #expect(periods("2026-11-29T08:00:00Z", losAngeles)[0] == "2026-11-29")
    }

    @Test func daylightSavingChangesMoveMidnight() {
        // Berlin leaves summer time on 2026-10-25: midnight is 22:00 UTC before, 23:00 UTC after.
        #expect(periods("2026-10-24T21:59:59Z", berlin)[0] == "2026-10-24")
        #expect(periods("2026-10-24T22:00:00Z", berlin)[0] == "2026-10-25")
        #expect(periods("2026-10-25T22:59:59Z", berlin)[0] == "2026-10-25")
        #expect(periods("2026-10-25T23:00:00Z", berlin)[0] == "2026-10-26")
        // Los Angeles enters summer time on 2026-03-08: midnight moves from 08:00 to 07:00 UTC.
        #expect(periods("2026-03-08T07:59:59Z", losAngeles)[0] == "2026-03-07")
        #expect(periods("2026-03-08T08:00:00Z", losAngeles)[0] == "2026-03-08")
        #expect(periods("2026-03-09T06:59:59Z", losAngeles)[0] == "2026-03-08")
        #expect(periods("2026-03-09T07:00:00Z", losAngeles)[0] == "2026-03-09")
    }

    @Test func yearEndBelongsToTheRightYearWeekAndQuarter() {
        // New Year's Eve 2025 is a Wednesday; its week holds Thursday 1 January: ISO week 2026-W01.
        #expect(periods("2025-12-31T23:30:00Z", berlin) == ["2026-01-01", "2026-W01", "2026-01", "2026-Q1", "2026", "all"])
        #expect(periods("2026-01-01T07:30:00Z", losAngeles) == ["2025-12-31", "2026-W01", "2025-12", "2025-Q4", "2025", "all"])
        // 2026 has 53 ISO weeks: 31 December 2026 (a Thursday) is in 2026-W53.
        #expect(periods("2026-12-31T12:00:00Z", utc)[1] == "2026-W53")
        #expect(periods("2027-01-03T12:00:00Z", utc)[1] == "2026-W53")
        #expect(periods("2027-01-04T12:00:00Z", utc)[1] == "2027-W01")
    }

    @Test func weeksFollowTheOrgsWeekStart() {
        // Sunday 29 November 2026: the last day of a Monday week, the first of a Sunday week.
        let sunday = LocalDate(year: 2026, month: 11, day: 29)
        #expect(WeekNumbering.start(of: sunday, weekStart: .monday) == LocalDate(year: 2026, month: 11, day: 23))
        #expect(WeekNumbering.start(of: sunday, weekStart: .sunday) == sunday)
        // A week is numbered by its fourth day: Monday 23 Nov's week by Thursday 26 Nov (W48),
        // Sunday 22 Nov's week by Wednesday 25 Nov (W47), Sunday 29 Nov's by Wednesday 2 Dec (W48).
        let saturday = sunday.adding(days: -1)
        #expect(Window.week.period(of: saturday, weekStart: .monday) == "2026-W48")
        #expect(Window.week.period(of: saturday, weekStart: .sunday) == "2026-W47")
        #expect(Window.week.period(of: sunday, weekStart: .monday) == "2026-W48")
        #expect(Window.week.period(of: sunday, weekStart: .sunday) == "2026-W48")
        #expect(Window.week.periodEnd(of: sunday, weekStart: .monday) == LocalDate(year: 2026, month: 11, day: 30))
    }

    @Test func boardIDs() {
        #expect(BoardID("points:7d:teams") == BoardID(metric: "points", window: .rolling7, scope: .teams))
        #expect(BoardID("points:fortnight:reps") == nil)
    }
}
