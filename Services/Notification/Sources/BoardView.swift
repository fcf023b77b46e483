import Foundation

/// One line of a board as displays show it: the leaderboard's entry plus the rep's team, so a
/// TV can colour it.
package struct DisplayEntry: Codable, Sendable, Equatable {
    package var rank: Int
    package var member: String
    package var name: String
    package var score: Double
    package var team: String?
    /// The member's target in the period and score ÷ target, where it has a quota (on an
    /// attainment board, always): what a TV draws as a progress bar.
    package var target: Double?
    package var attainment: Double?

    package init(rank: Int, member: String, name: String, score: Double, team: String? = nil, target: Double? = nil, attainment: Double? = nil) {
        self.rank = rank
        self.member = member
        self.name = name
        self.score = score
        self.team = team
        self.target = target
        self.attainment = attainment
    }
}

/// The top of a board in its current period, as last read from Redis.
package struct BoardView: Sendable, Equatable {
    package var period: String
    package var total: Int
    package var entries: [DisplayEntry]

    package init(period: String, total: Int, entries: [DisplayEntry]) {
        self.period = period
        self.total = total
        self.entries = entries
    }
}

/// A member whose rank changed; nil `from`: it entered the top, nil `to`: it left.
package struct Move: Codable, Sendable, Equatable {
    package var member: String
    package var from: Int?
    package var to: Int?

    package init(member: String, from: Int?, to: Int?) {
        self.member = member
        self.from = from
        self.to = to
    }

    // Displays read `"from": null` as "entered"; keep the keys even when nil.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(member, forKey: .member)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
    }
}

/// Something worth a display's attention: `overtake` (member passed `passed`, now at `rank`),
/// `leader` (a new member at the top), `enter` (member entered the top at `rank`).
package struct Highlight: Codable, Sendable, Equatable {
    package var type: String
    package var member: String
    package var passed: String?
    package var rank: Int?

    package static func overtake(_ member: String, passed: String, rank: Int) -> Highlight {
        Highlight(type: "overtake", member: member, passed: passed, rank: rank)
    }
    package static func leader(_ member: String) -> Highlight { Highlight(type: "leader", member: member, passed: nil, rank: 1) }
    package static func enter(_ member: String, rank: Int) -> Highlight { Highlight(type: "enter", member: member, passed: nil, rank: rank) }
}

extension BoardView {
    /// What changed from `old` to `self`: each member whose rank changed (in the new order,
    /// then those that left), and the highlights. A member overtakes when someone ranked
    /// strictly above it before now ranks strictly below it; the one it is reported to have
    /// passed is the best placed of those, the one it now sits just above.
    package func changes(since old: BoardView) -> (moves: [Move], highlights: [Highlight]) {
        let oldRanks = Dictionary(old.entries.map { ($0.member, $0.rank) }, uniquingKeysWith: { first, _ in first })
        let newRanks = Dictionary(entries.map { ($0.member, $0.rank) }, uniquingKeysWith: { first, _ in first })

        var moves: [Move] = []
        for entry in entries where oldRanks[entry.member] != entry.rank {
            moves.append(Move(member: entry.member, from: oldRanks[entry.member], to: entry.rank))
        }
        for entry in old.entries where newRanks[entry.member] == nil {
            moves.append(Move(member: entry.member, from: entry.rank, to: nil))
        }

        var highlights: [Highlight] = []
        if let leader = entries.first, leader.member != old.entries.first?.member {
            highlights.append(.leader(leader.member))
        }
        for entry in entries {
            let before = oldRanks[entry.member]
            let passed = entries.first { other in
                guard other.member != entry.member, other.rank > entry.rank, let otherBefore = oldRanks[other.member] else {
                    return false
                }
                return before.map { otherBefore < $0 } ?? true
            }
            if let passed { highlights.append(.overtake(entry.member, passed: passed.member, rank: entry.rank)) }
            if before == nil { highlights.append(.enter(entry.member, rank: entry.rank)) }
        }
        return (moves, highlights)
    }
}

/// A board message for displays: `snapshot` (the top, to start from) or `update` (the top
/// after a change, with the next sequence number, the moves and the highlights).
package struct BoardMessage: Codable, Sendable, Equatable {
    package var type: String
    package var org: String
    package var board: String
    package var period: String
    package var seq: Int
    package var total: Int
    package var entries: [DisplayEntry]
    package var moves: [Move]?
    package var highlights: [Highlight]?
}
