import Foundation
@testable import Leaderboard
import TallyStore
import Testing

/// The hand-written answers say exactly what `JSONEncoder` would, whatever is in a name.
@Suite struct FastJSONTests {
    let names = [
        "Ana", #"Quote " and \ backslash"#, "line\nbreak\ttab\r", "control \u{01}\u{1f}", "Zoë 🎉 中文", "<img src=x onerror=alert(1)>", "",
    ]

    func parsed(_ data: Data) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: data) as? NSDictionary)
    }

    @Test func anEntryListIsTheSameObjectAsJSONEncoderMakes() throws {
        let entries = names.enumerated().map { index, name in
            Entry(rank: index + 1, member: "rep-\(index)", name: name, score: [130, 1.5, 0, -2, 1e20, 0.1, 12_500.25][index])
        }
        let list = EntryList(board: "points:today:reps", period: "2026-11-29", total: 40, entries: entries)
        #expect(try parsed(list.json()) == (try parsed(try JSONEncoder().encode(list))))
        let withOK = try parsed(list.json(ok: true))
        #expect(withOK["ok"] as? Bool == true)
        #expect((withOK["entries"] as? [NSDictionary])?.map { $0["name"] as? String } == names)
    }

    @Test func aRankIsTheSameObjectAsJSONEncoderMakes() throws {
        let rank = MemberRank(board: "revenue:month:teams", period: "2026-11", member: "north \"east\"", rank: 3, score: 99.5, total: 12)
        #expect(try parsed(rank.json()) == (try parsed(try JSONEncoder().encode(rank))))
    }
}
