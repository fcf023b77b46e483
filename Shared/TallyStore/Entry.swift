/// One ranked line of a board: what every read answers with.
package struct Entry: Codable, Sendable, Equatable {
    package var rank: Int
    package var member: String
    package var name: String
    package var score: Double

    package init(rank: Int, member: String, name: String, score: Double) {
        self.rank = rank
        self.member = member
        self.name = name
        self.score = score
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

    package init(board: String, period: String, member: String, rank: Int, score: Double, total: Int) {
        self.board = board
        self.period = period
        self.member = member
        self.rank = rank
        self.score = score
        self.total = total
    }
}
