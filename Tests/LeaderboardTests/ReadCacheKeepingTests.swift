import Foundation
@testable import Leaderboard
import TallyStore
import Testing

/// What the read cache keeps, on its own: an answer from its read's second asking, within its
/// bounds, and a stream of reads each asked once pushes out nothing kept.
@Suite struct ReadCacheKeepingTests {
    func rank(_ member: String) -> MemberRank {
        MemberRank(board: "points:all:reps", period: "all", member: member, rank: 1, score: 1, total: 1)
    }

    @Test func anAnswerIsKeptFromItsSecondAskingAndOnesAskedOnceCostNothing() {
        let cache = ReadCache(capacity: 8)
        cache.keep("top10", version: "1", answer: rank("a"))
        #expect(cache.kept("top10") == nil, "asked once: remembered, not kept")
        cache.keep("top10", version: "1", answer: rank("a"))
        #expect(cache.kept("top10")?.version == "1")
        // A thousand ranks, each asked once: none kept, and the board stays.
        for member in 0..<1_000 { cache.keep("rank-\(member)", version: "1", answer: rank("m\(member)")) }
        #expect(cache.usage.answers == 1)
        #expect(cache.kept("top10")?.version == "1")
        // A new version of a kept read replaces it at once.
        cache.keep("top10", version: "2", answer: rank("b"))
        #expect(cache.kept("top10")?.version == "2")
        // Reads asked again are kept, up to the capacity.
        for member in 0..<20 {
            cache.keep("again-\(member)", version: "1", answer: rank("m"))
            cache.keep("again-\(member)", version: "1", answer: rank("m"))
        }
        #expect(cache.usage.answers == 8)
    }

    @Test func aKeptAnswerCarriesBothTransportsEncodings() throws {
        let kept = ReadCache.Kept(version: "1", answer: rank("ana \"the closer\""), key: "k")
        let object = { (data: Data) in try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]) }
        let http = try object(kept.http)
        let zmq = try object(kept.zmq)
        #expect(http["ok"] == nil)
        #expect(zmq["ok"] as? Bool == true)
        #expect(http["member"] as? String == "ana \"the closer\"" && zmq["member"] as? String == "ana \"the closer\"")
        #expect(zmq.count == http.count + 1, "\(http) \(zmq)")
        #expect(kept.http == rank("ana \"the closer\"").json())
    }
}
