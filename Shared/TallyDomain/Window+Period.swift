extension Window {
    /// Checks a period label a client asked for (`2026-11-28`, `2026-W48`, `2026-11`,
    /// `2026-Q4`, `2026`, `all`) and returns it, or nil when it does not name a period of this
    /// window.
    package func validPeriod(_ text: String) -> String? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        func year(_ s: String) -> Bool { s.count == 4 && Int(s) != nil }
        switch self {
        case .today, .rolling7, .rolling30:
            return LocalDate(label: text) != nil ? text : nil
        case .week:
            guard parts.count == 2, year(parts[0]), parts[1].count == 3, parts[1].first == "W",
                let week = Int(parts[1].dropFirst()), (1...53).contains(week)
            else { return nil }
            return text
        case .month:
            guard parts.count == 2, year(parts[0]), parts[1].count == 2, let month = Int(parts[1]),
                (1...12).contains(month)
            else { return nil }
            return text
        case .quarter:
            guard parts.count == 2, year(parts[0]), ["Q1", "Q2", "Q3", "Q4"].contains(parts[1]) else { return nil }
            return text
        case .year:
            return year(text) ? text : nil
        case .all:
            return text == "all" ? text : nil
        }
    }

    /// What a period label looks like, for error messages.
    package var periodExample: String {
        switch self {
        case .today, .rolling7, .rolling30: "2026-11-28"
        case .week: "2026-W48"
        case .month: "2026-11"
        case .quarter: "2026-Q4"
        case .year: "2026"
        case .all: "all"
        }
    }
}
