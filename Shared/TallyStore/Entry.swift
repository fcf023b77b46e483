/// One ranked line of a board: what every read answers with.
package struct Entry: Codable, Sendable, Equatable {
    package var rank: Int
    package var member: String
    package var name: String
    /// The metric's value (on an attainment board too, which ranks by `attainment`).
    package var score: Double
    /// The member's target in the board's period, where it has a quota.
    package var target: Double?
    /// `score` ÷ `target` (0.5 = half way), where the member has a quota.
    package var attainment: Double?

    package init(rank: Int, member: String, name: String, score: Double, target: Double? = nil, attainment: Double? = nil) {
        self.rank = rank
        self.member = member
        self.name = name
        self.score = score
        self.target = target
        self.attainment = attainment
    }
}

/// A list of entries: a page (`top`), the entries around a member, a contest's standings.
package struct EntryList: Codable, Sendable, Equatable {
    package var board: String
    package var period: String
    package var total: Int
    package var entries: [Entry]

    package init(board: String, period: String, total: Int, entries: [Entry]) {
        self.board = board
        self.period = period
        self.total = total
        self.entries = entries
    }
}

/// A member's standing on one board: `rank`.
package struct MemberRank: Codable, Sendable, Equatable {
    package var board: String
    package var period: String
    package var member: String
    package var rank: Int
    package var score: Double
    package var total: Int
    /// As on `Entry`: where the member has a quota in the period.
    package var target: Double?
    package var attainment: Double?

    package init(
        board: String, period: String, member: String, rank: Int, score: Double, total: Int, target: Double? = nil, attainment: Double? = nil
    ) {
        self.board = board
        self.period = period
        self.member = member
        self.rank = rank
        self.score = score
        self.total = total
        self.target = target
        self.attainment = attainment
    }
}
