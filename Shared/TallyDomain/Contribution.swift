/// What one accepted event added, kept in the activity log so that a correction can take
/// exactly that back even after the org's rules changed: each metric's amount, the period of
/// each calendar window its `at` fell in, the member of each scope (the rep, its team at the
/// time), and what it added to each contest. The boards it touched are every metric × scope ×
/// window of these (as `ScoringPlan` scores them), plus the contests; rolling windows are the
/// sums of the `today` boards, so they follow.
package struct Contribution: Sendable, Equatable, Codable {
    package struct ContestShare: Sendable, Equatable, Codable {
        package var contest: String
        package var member: String
        package var amount: Double

        package init(contest: String, member: String, amount: Double) {
            self.contest = contest
            self.member = member
            self.amount = amount
        }
    }

    /// Metric → amount added (never 0: an amount of 0 writes nothing).
    package var amounts: [String: Double]
    /// Calendar window (`today`, `week`, ..., `all`) → period label.
    package var periods: [String: String]
    /// Scope (`reps`, `teams`) → member.
    package var members: [String: String]
    package var contests: [ContestShare]

    package init(amounts: [String: Double] = [:], periods: [String: String] = [:], members: [String: String] = [:], contests: [ContestShare] = []) {
        self.amounts = amounts
        self.periods = periods
        self.members = members
        self.contests = contests
    }

    /// One amount on one member of one stored board.
    package struct Increment: Sendable, Hashable {
        /// `points:today:reps` or `contest:<id>`.
        package var board: String
        /// The period; empty for a contest.
        package var period: String
        package var member: String
        package var amount: Double

        package init(board: String, period: String, member: String, amount: Double) {
            self.board = board
            self.period = period
            self.member = member
            self.amount = amount
        }
    }

    /// Every increment the event made, in a stable order.
    package var increments: [Increment] {
        var out: [Increment] = []
        for metric in amounts.keys.sorted() {
            let amount = amounts[metric]!
            for scope in members.keys.sorted() {
                for window in periods.keys.sorted() {
                    out.append(Increment(board: "\(metric):\(window):\(scope)", period: periods[window]!, member: members[scope]!, amount: amount))
                }
            }
        }
        for share in contests where share.amount != 0 {
            out.append(Increment(board: "contest:\(share.contest)", period: "", member: share.member, amount: share.amount))
        }
        return out
    }

    enum CodingKeys: String, CodingKey {
        case amounts = "m", periods = "w", members = "s", contests = "x"
    }
}

extension Contribution {
    /// The calendar periods of a day (`2026-12-03`) whose week is `week` (its label depends on
    /// the org's week rule): what an event of that day adds to under rules with every calendar
    /// window. Nil for a label that is not a day.
    package static func periods(day: String, week: String) -> [String: String]? {
        let parts = day.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, let month = Int(parts[1]), (1...12).contains(month) else { return nil }
        let year = String(parts[0])
        return [
            "today": day, "week": week, "month": "\(year)-\(parts[1])", "quarter": "\(year)-Q\((month - 1) / 3 + 1)",
            "year": year, "all": "all",
        ]
    }
}

extension Contribution.ContestShare {
    enum CodingKeys: String, CodingKey {
        case contest = "c", member = "s", amount = "a"
    }
}
