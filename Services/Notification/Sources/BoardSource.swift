import Foundation
import TallyChanges
import TallyStore
import Redis
import TallyDomain

/// Reads what displays show of a board: the top `size` in the current period, with each
/// rep's team. Two round trips: the board script, then the teams of the reps on it.
struct BoardSource: Sendable {
    let reader: BoardReader
    let size: Int

    private var contests: ContestStore { ContestStore(redis: reader.redis) }

    /// Checks that `board` names a board of `org` (a metric board its rules define, or a
    /// stored contest); throws `StoreError` naming the field otherwise.
    func validate(org: String, board: String) async throws {
        _ = try await reader.target(org: org, board: board, period: nil)
    }

    /// Whether `board` of `org` has data: a metric board some event was scored on (one
    /// `SISMEMBER`), or a stored contest. Throws `StoreError` naming the field for an id that
    /// names no board.
    func exists(org: String, board: String) async throws -> Bool {
        guard try reader.metricTarget(org: org, board: board, period: nil) != nil else {
            try await validate(org: org, board: board)  // a contest: found, or notFound
            return true
        }
        return try await reader.exists(org: org, board: board)
    }

    /// What a board with no data shows: its current period, no entries.
    func emptyView(org: String, board: String) -> BoardView {
        let period = (try? reader.metricTarget(org: org, board: board, period: nil))??.period ?? ""
        return BoardView(period: period, total: 0, entries: [])
    }

    func read(org: String, board: String) async throws -> BoardView {
        let target = try await reader.target(org: org, board: board, period: nil)
        let top = try await reader.top(target, offset: 0, limit: size)
        let teams = target.scope == .reps
            ? try await RepDirectory(redis: reader.redis).teams(org: org, reps: top.entries.map(\.member)) : []
        let entries = top.entries.enumerated().map { index, entry in
            DisplayEntry(
                rank: entry.rank, member: entry.member, name: entry.name, score: entry.score,
                team: target.scope == .teams ? entry.member : (index < teams.count ? teams[index] : nil),
                target: entry.target, attainment: entry.attainment)
        }
        return BoardView(period: top.period, total: top.total, entries: entries)
    }

    /// The org's contests that are scheduled or running now, as `contest` messages marked
    /// `replay`, so a display that connects mid-contest can show its countdown.
    func currentContests(org: String, now: Int64 = Timestamp.now()) async throws -> [ContestAnnouncement] {
        let stored = try await contests.stored(org: org)
        let finishes = try await contests.finishes(stored, org: org)
        return stored.compactMap { contest -> ContestAnnouncement? in
            let finish = finishes[contest.id]?.at
            let state = contest.state(at: now, finishedAt: finish)
            guard state == .scheduled || state == .running else { return nil }
            return ContestAnnouncement(
                org: org, contest: contest.id, name: contest.name, state: state.rawValue, board: contest.boardID,
                startsAt: contest.startsAt, endsAt: contest.end(finishedAt: finish), winners: nil, replay: true)
        }.sorted { $0.endsAt < $1.endsAt }
    }
}

/// `{"type": "deal", ...}` on an org's `_events` channel: a deal won.
struct DealMessage: Codable, Sendable {
    var type = "deal"
    var org: String
    var rep: String
    var name: String
    var team: String?
    var value: Double
    var at: String
}

/// `{"type": "milestone", ...}` on an org's `_events` channel: a member's attainment on
/// `board` (`attainment:<metric>:<window>:<scope>`) in `period` crossed `milestone` (0.5 =
/// half the target); `attainment` is where it is now.
struct MilestoneMessage: Codable, Sendable {
    var type = "milestone"
    var org: String
    var board: String
    var period: String
    var member: String
    var name: String
    var attainment: Double
    var milestone: Double
}

/// `{"type": "activity", ...}` on an org's `_events` channel: a new event of a `feed_kinds` kind.
struct ActivityMessage: Codable, Sendable {
    var type = "activity"
    var org: String
    var id: String
    var rep: String
    var name: String
    var team: String?
    var kind: String
    var value: Double
    var at: String
}

/// `{"type": "correction", ...}` on an org's `_events` channel: an event retracted or amended
/// (`rep` and `name` as it was before), and an amended one as now recorded.
struct CorrectionMessage: Codable, Sendable {
    /// An amended event as now recorded; `feed`: whether its kind is one of `feed_kinds`.
    struct Amended: Codable, Sendable {
        var rep: String
        var name: String
        var team: String?
        var kind: String
        var value: Double
        var at: String
        var feed: Bool
    }

    var type = "correction"
    var org: String
    var id: String
    var rep: String
    var name: String
    var status: String
    var event: Amended?
}
