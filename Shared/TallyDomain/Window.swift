/// A time window a board covers.
package enum Window: String, Sendable, CaseIterable, Codable {
    case today, week, month, quarter, year, all
    case rolling7 = "7d"
    case rolling30 = "30d"

    /// Rolling windows are read as the sum of their days' boards; the others are stored.
    package var isRolling: Bool { self == .rolling7 || self == .rolling30 }

    /// How many local days a rolling window covers, today included.
    package var rollingDays: Int? {
        switch self {
        case .rolling7: 7
        case .rolling30: 30
        default: nil
        }
    }

    /// The label of the calendar period a local date falls in: `2026-11-29`, `2026-W48`,
    /// `2026-11`, `2026-Q4`, `2026`, `all`. For rolling windows, the day that ends the window.
    package func period(of date: LocalDate, weekStart: Weekday) -> String {
        switch self {
        case .today, .rolling7, .rolling30: date.label
        case .week: WeekNumbering.label(of: date, weekStart: weekStart)
        case .month: "\(pad(date.year, 4))-\(pad(date.month, 2))"
        case .quarter: "\(pad(date.year, 4))-Q\(date.quarter)"
        case .year: pad(date.year, 4)
        case .all: "all"
        }
    }

    /// The first local day after the period holding `date` (nil for `all`): when it stops
    /// receiving events, from which its retention counts.
    package func periodEnd(of date: LocalDate, weekStart: Weekday) -> LocalDate? {
        switch self {
        case .today, .rolling7, .rolling30: date.adding(days: 1)
        case .week: WeekNumbering.start(of: date, weekStart: weekStart).adding(days: 7)
        case .month: date.month == 12 ? LocalDate(year: date.year + 1, month: 1, day: 1) : LocalDate(year: date.year, month: date.month + 1, day: 1)
        case .quarter: date.quarter == 4 ? LocalDate(year: date.year + 1, month: 1, day: 1) : LocalDate(year: date.year, month: date.quarter * 3 + 1, day: 1)
        case .year: LocalDate(year: date.year + 1, month: 1, day: 1)
        case .all: nil
        }
    }
}

package enum Weekday: String, Sendable, Codable, CaseIterable {
    case monday, tuesday, wednesday, thursday, friday, saturday, sunday

    /// 1 = Monday ... 7 = Sunday.
    package var isoNumber: Int { Weekday.allCases.firstIndex(of: self)! + 1 }
}

/// Week labels `YYYY-Www`. A week starts on the org's week start; it belongs to the year that
/// holds most of its days (its fourth day), which for Monday weeks is exactly ISO 8601.
package enum WeekNumbering {
    package static func start(of date: LocalDate, weekStart: Weekday) -> LocalDate {
        let back = (date.isoWeekday - weekStart.isoNumber + 7) % 7
        return date.adding(days: -back)
    }

    package static func label(of date: LocalDate, weekStart: Weekday) -> String {
        let fourthDay = start(of: date, weekStart: weekStart).adding(days: 3)
        let year = fourthDay.year
        let jan1 = LocalDate(year: year, month: 1, day: 1)
        let week = (fourthDay.daysSinceEpoch - jan1.daysSinceEpoch) / 7 + 1
        return "\(pad(year, 4))-W\(pad(week, 2))"
    }
}
