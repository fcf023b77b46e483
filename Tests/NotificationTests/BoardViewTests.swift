import Notification
import Testing

/// The moves and highlights displays get, worked out by hand from two tops.
@Suite struct BoardViewTests {
    func view(_ lines: [(String, Double)]) -> BoardView {
        // Competition ranks: equal scores share a rank, the next rank skips.
        var entries: [DisplayEntry] = []
        for (index, (member, score)) in lines.enumerated() {
            let rank = index > 0 && lines[index - 1].1 == score ? entries[index - 1].rank : index + 1
            entries.append(DisplayEntry(rank: rank, member: member, name: member.uppercased(), score: score))
        }
        return BoardView(period: "2026-11-29", total: lines.count, entries: entries)
    }

    @Test func anOvertakeAtTheTopNamesTheMemberPassedAndTheNewLeader() {
        let old = view([("ana", 30), ("ben", 20), ("cy", 10)])
        let new = view([("cy", 40), ("ana", 30), ("ben", 20)])
        let (moves, highlights) = new.changes(since: old)
        #expect(moves == [Move(member: "cy", from: 3, to: 1), Move(member: "ana", from: 1, to: 2), Move(member: "ben", from: 2, to: 3)])
        #expect(highlights == [.leader("cy"), .overtake("cy", passed: "ana", rank: 1)])
    }

    @Test func passingOneNeighbourIsOneOvertakeAndNoNewLeader() {
        let old = view([("ana", 30), ("ben", 20), ("cy", 10)])
        let new = view([("ana", 30), ("cy", 25), ("ben", 20)])
        let (moves, highlights) = new.changes(since: old)
        #expect(moves == [Move(member: "cy", from: 3, to: 2), Move(member: "ben", from: 2, to: 3)])
        #expect(highlights == [.overtake("cy", passed: "ben", rank: 2)])
    }

    @Test func drawingLevelIsNotAnOvertake() {
        let old = view([("ana", 30), ("ben", 20)])
        let new = view([("ana", 30), ("ben", 30)])
        let (moves, highlights) = new.changes(since: old)
        #expect(moves == [Move(member: "ben", from: 2, to: 1)])
        #expect(highlights.isEmpty)
    }

    @Test func enteringTheTopPushesTheLastOneOut() {
        let old = view([("ana", 30), ("ben", 20)])
        let new = view([("ana", 30), ("dee", 25)])
        let (moves, highlights) = new.changes(since: old)
        #expect(moves == [Move(member: "dee", from: nil, to: 2), Move(member: "ben", from: 2, to: nil)])
        #expect(highlights == [.enter("dee", rank: 2)])
    }

    @Test func aScoreChangeWithoutAnyRankChangeHasNoMovesOrHighlights() {
        let old = view([("ana", 30), ("ben", 20)])
        let new = view([("ana", 35), ("ben", 20)])
        let (moves, highlights) = new.changes(since: old)
        #expect(moves.isEmpty)
        #expect(highlights.isEmpty)
    }

    @Test func theFirstEntryOnAnEmptyBoardLeadsAndEnters() {
        let (moves, highlights) = view([("ana", 1)]).changes(since: view([]))
        #expect(moves == [Move(member: "ana", from: nil, to: 1)])
        #expect(highlights == [.leader("ana"), .enter("ana", rank: 1)])
    }
}
