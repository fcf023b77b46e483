import TallyStore

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
