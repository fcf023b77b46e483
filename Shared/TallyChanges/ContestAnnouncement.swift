import TallyStore

/// `{"type": "contest", ...}` on an org's `_events` channel: a contest's change of state (the
/// leaderboard's scheduler announces it, tally-notification passes it on), or with `replay`,
/// a contest's current state told to a display that has just connected.
package struct ContestAnnouncement: Codable, Sendable, Equatable {
    package var type = "contest"
    package let org: String
    package let contest: String
    package let name: String
    package let state: String
    /// The contest's board, `contest:<id>`.
    package let board: String
    package let startsAt: Int64
    /// When counting stops (or stopped): the end, an early end, or a race's finish.
    package let endsAt: Int64
    package let winners: [Entry]?
    package var replay: Bool?

    package init(
        org: String, contest: String, name: String, state: String, board: String, startsAt: Int64, endsAt: Int64,
        winners: [Entry]?, replay: Bool? = nil
    ) {
        self.org = org
        self.contest = contest
        self.name = name
        self.state = state
        self.board = board
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.winners = winners
        self.replay = replay
    }

    enum CodingKeys: String, CodingKey {
        case type, org, contest, name, state, board, startsAt = "starts_at_ms", endsAt = "ends_at_ms", winners, replay
    }
}
