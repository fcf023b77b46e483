/// What a batch of events does to one org's boards: the distinct board keys it touches and,
/// per event, each amount added to which member of which board. Computed in Swift so that
/// the Redis script only applies it.
package struct ScoringPlan: Sendable, Equatable {
    package struct Board: Sendable, Hashable {
        /// `points:today:reps`, or `contest:<id>`.
        package let name: String
        /// The calendar period; empty for a contest.
        package let period: String
        /// When the key expires (seconds since 1970), or nil to keep it (`all`, contests).
        package let expiresAt: Int64?
        /// A race's goal: the first member to reach it wins, and the board stops counting.
        package var goal: Double? = nil

        /// The metric board's id; nil for a contest.
        package var id: BoardID? { BoardID(name) }
        /// The contest's id, for a contest's board.
        package var contestID: String? { name.hasPrefix("contest:") ? String(name.dropFirst("contest:".count)) : nil }
    }

    /// A contest as scoring sees it: its definition, and when its race finished (if it did).
    package struct ContestInPlay: Sendable {
        package let contest: Contest
        package let finishedAt: Int64?

        package init(contest: Contest, finishedAt: Int64?) {
            self.contest = contest
            self.finishedAt = finishedAt
        }
    }

    package struct Increment: Sendable, Equatable {
        /// Index into `boards`.
        package let board: Int
        package let member: String
        package let amount: Double
    }

    package struct Entry: Sendable, Equatable {
        package let event: ActivityEvent
        package let increments: [Increment]
        /// The same increments as the activity log keeps them (what a correction takes back);
        /// empty for an org that keeps no log.
        package let contribution: Contribution
    }

    package let org: String
    package private(set) var boards: [Board] = []
    package private(set) var entries: [Entry] = []
    private var boardIndex: [Board: Int] = [:]

    /// Plans the events of one org; all must have `org == org` and be valid for its rules.
    /// `now` is when they arrived, which decides whether a contest's grace is over.
    package init(org: String, events: [ActivityEvent], rules: Rules, contests: [ContestInPlay] = [], now: Int64 = 0) {
        self.org = org
        var dayCache: [Int64: LocalDate] = [:]
        // What each event added is for the activity log only: an org without one skips it.
        let logged = rules.keepsLog
        // The periods an event's contribution names are those of its local date: made once a day.
        var periodsOfDay: [LocalDate: [String: String]] = [:]
        for event in events {
            // Events of a batch cluster in time: look each minute's local date up once (every
            // real UTC offset is a whole number of minutes, so the date is the same all minute).
            let minute = event.at >= 0 ? event.at / 60_000 : (event.at - 59_999) / 60_000
            let date = dayCache[minute] ?? LocalDate(milliseconds: event.at, in: rules.timeZone)
            dayCache[minute] = date
            var increments: [Increment] = []
            var contribution = Contribution()
            for metric in rules.metrics {
                guard let amount = metric.amount(kind: event.kind, value: event.value) else { continue }
                if logged && amount != 0 { contribution.amounts[metric.name] = amount }
                for scope in rules.scopes {
                    guard let member = scope == .reps ? event.rep : event.team else { continue }
                    for window in rules.windows where !window.isRolling {
                        let board = board(BoardID(metric: metric.name, window: window, scope: scope), date, rules)
                        increments.append(Increment(board: board, member: member, amount: amount))
                    }
                }
            }
            if !contribution.amounts.isEmpty {
                for scope in rules.scopes {
                    if let member = scope == .reps ? event.rep : event.team { contribution.members[scope.rawValue] = member }
                }
                if let periods = periodsOfDay[date] {
                    contribution.periods = periods
                } else {
                    for window in rules.windows where !window.isRolling {
                        contribution.periods[window.rawValue] = window.period(of: date, weekStart: rules.weekStart)
                    }
                    periodsOfDay[date] = contribution.periods
                }
            }
            for play in contests {
                guard let (member, amount) = play.contest.amount(for: event, arrivedAt: now, rules: rules, finishedAt: play.finishedAt)
                else { continue }
                let contest = play.contest
                var board = Board(name: contest.boardID, period: "", expiresAt: nil)
                board.goal = contest.goal
                increments.append(Increment(board: index(of: board), member: member, amount: amount))
                if logged && amount != 0 { contribution.contests.append(.init(contest: contest.id, member: member, amount: amount)) }
            }
            entries.append(Entry(event: event, increments: increments, contribution: contribution))
        }
    }

    private mutating func board(_ id: BoardID, _ date: LocalDate, _ rules: Rules) -> Int {
        let period = id.window.period(of: date, weekStart: rules.weekStart)
        // Kept for the retention after the period ends (a day's slack covers any time zone).
        let expiresAt = id.window.periodEnd(of: date, weekStart: rules.weekStart).map {
            Int64($0.daysSinceEpoch + 1 + rules.retentionDays) * 86_400
        }
        return index(of: Board(name: id.description, period: period, expiresAt: expiresAt))
    }

    private mutating func index(of board: Board) -> Int {
        if let index = boardIndex[board] { return index }
        boards.append(board)
        boardIndex[board] = boards.count - 1
        return boards.count - 1
    }
}
