import Foundation
import TallyDomain

/// A board of an org in one period, checked against the org's rules: a metric board, or a
/// contest's board.
package struct BoardTarget: Sendable, Equatable {
    package let org: String
    /// `points:today:reps` or `contest:<id>`.
    package let board: String
    /// The metric board's id; nil for a contest.
    package let id: BoardID?
    package let scope: Scope
    /// The period label; `contest` for a contest's board.
    package let period: String
    /// Whether the board is `id`'s attainment board (`attainment:<id>`), which ranks by score ÷ target.
    package let attainment: Bool

    package init(org: String, board: String, id: BoardID?, scope: Scope, period: String, attainment: Bool = false) {
        self.org = org
        self.board = board
        self.id = id
        self.scope = scope
        self.period = period
        self.attainment = attainment
    }

    /// What the read script adds to each entry: targets on a board that can have quotas, and
    /// the metric's score too on an attainment board (see read-board.lua).
    package var extras: String {
        guard let id, Quota.windows.contains(id.window) else { return "" }
        return attainment ? "a" : "t"
    }

    /// A contest's board.
    package init(org: String, contest: Contest) {
        self.init(org: org, board: contest.boardID, id: nil, scope: contest.scope, period: "contest")
    }

    /// A metric board of `org` in `period` (nil or empty: the current one), checked against
    /// the org's rules; nil for a contest's board, whose scope is in its stored definition.
    package static func metric(
        org: String, board: String, period: String?, rules: Rules, now: Date = Date()
    ) throws(StoreError) -> BoardTarget? {
        guard Org.isValid(org) else { throw .invalid("org: must be 1 to 64 characters of a-z, 0-9 and -") }
        if board.hasPrefix("contest:") { return nil }
        let attainment = board.hasPrefix(BoardID.attainmentPrefix)
        guard let id = attainment ? BoardID(attainment: board) : BoardID(board), rules.metric(named: id.metric) != nil,
            rules.windows.contains(id.window), rules.scopes.contains(id.scope)
        else {
            throw .notFound(
                "board: unknown board \(board.quoted) (boards are <metric>:<window>:<scope>, e.g. points:today:reps, or attainment:<metric>:<window>:<scope>)")
        }
        if attainment && !Quota.windows.contains(id.window) {
            throw .notFound(
                "board: unknown board \(board.quoted) (attainment boards are of the windows quotas are for: \(Quota.windows.map(\.rawValue).joined(separator: ", ")))")
        }
        let resolved: String
        if let period, !period.isEmpty {
            guard let valid = id.window.validPeriod(period) else {
                throw .invalid("period: \(period.quoted) is not a \(id.window.rawValue) period (e.g. \(id.window.periodExample))")
            }
            resolved = valid
        } else {
            let today = LocalDate(milliseconds: Int64(now.timeIntervalSince1970 * 1000), in: rules.timeZone)
            resolved = id.window.period(of: today, weekStart: rules.weekStart)
        }
        return BoardTarget(org: org, board: board, id: id, scope: id.scope, period: resolved, attainment: attainment)
    }

    /// The days a rolling board sums (the last n local days up to its period's day).
    package var days: [String] {
        guard let count = id?.window.rollingDays, let end = LocalDate(label: period) else { return [] }
        return (0..<count).map { end.adding(days: -$0).label }.reversed()
    }

    /// `read-board.lua`'s call for one read; the answer in full (see `BoardReader.Read.call(unlessAt:)`).
    package func call(mode: String, _ a: Int, _ b: Int, member: String) -> ScriptCall {
        let keys = Keys(org: org)
        let stored = id == nil ? "" : period
        var dayKeys: [String] = []
        var reachedKeys = [keys.reached(board, period: stored)]
        if let id, id.window.isRolling {
            let day = BoardID(metric: id.metric, window: .today, scope: id.scope).description
            dayKeys = days.map { keys.board(day, period: $0) }
            reachedKeys = days.map { keys.reached(day, period: $0) }
        }
        let withNames = scope == .reps
        var extraKeys: [String] = []
        let extras = self.extras
        if let id, !extras.isEmpty {
            extraKeys.append(keys.targets(id, period: period))
            if attainment { extraKeys.append(keys.board(id.description, period: period)) }
        }
        return ScriptCall(
            keys: [keys.board(board, period: stored), keys.order(board, period: stored)] + dayKeys + reachedKeys
                + (withNames ? [keys.names] : []) + extraKeys + [keys.sequence],
            arguments: [mode, String(a), String(b), member, String(dayKeys.count), String(reachedKeys.count), withNames ? "1" : "0", extras, ""])
    }
}
