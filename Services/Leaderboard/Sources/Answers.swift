/// One ranked line of a board.
package struct Entry: Codable, Sendable, Equatable {
    package var rank: Int
    package var member: String
    package var name: String
    package var score: Double
}

/// A list of entries: `top`, `around`.
package struct EntryList: Codable, Sendable, Equatable {
    package var board: String
    package var period: String
    package var total: Int
    package var entries: [Entry]
}

/// A member's standing on one board: `rank`.
package struct MemberRank: Codable, Sendable, Equatable {
    package var board: String
    package var period: String
    package var member: String
    package var rank: Int
    package var score: Double
    package var total: Int
}

/// The board ids of an org: `boards`.
package struct BoardList: Codable, Sendable, Equatable {
    package var org: String
    package var boards: [String]
}

/// A member on every board it is on: `member`.
package struct MemberStanding: Codable, Sendable, Equatable {
    package var org: String
    package var member: String
    package var boards: [MemberRank]
}

/// A rep's directory entry: `rep.put`.
package struct RepEntry: Codable, Sendable, Equatable {
    package var org: String
    package var rep: String
    package var name: String?
    package var team: String?
}
