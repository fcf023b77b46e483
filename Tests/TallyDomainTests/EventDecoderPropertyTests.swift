import Foundation
import Testing
import TallyDomain

/// What scripts/fuzz checks for ten minutes (libFuzzer, by hand), checked here on a few
/// thousand seeded mutations of the same seed requests on every run: every input comes back as
/// a request or a clear refusal, and whatever is let through keeps the decoder's promises.
@Suite struct EventDecoderPropertyTests {
    static let receivedAt: Int64 = 1_795_953_600_000  // 2026-11-29T12:00:00Z

    static let seeds = [
        #"{"id": "e1", "org": "acme", "rep": "rep-7", "rep_name": "Ana Lima", "team": "north", "kind": "deal_won", "value": 1200.5, "at": "2026-11-29T11:59:00Z"}"#,
        #"{"events": [{"id": "a", "rep": "r1", "kind": "call"}, {"id": "b", "rep": "r2", "kind": "door_knock", "at": "2026-11-29T12:00:00+01:00"}, {"id": 3, "rep": "r 3", "kind": "", "value": -1}]}"#,
        #"{"op": "ping"}"#,
        #"{"id": "\u00e9\u0301\u0301", "rep": "x", "rep_name": "A\u0301\u0301\u0301", "kind": "demo", "value": 1e12}"#,
    ]

    /// SplitMix64: the same mutations on every run, so a failure can be replayed.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A byte flipped, inserted, deleted or a run repeated; JSON-ish tokens spliced in.
    static func mutate(_ input: [UInt8], _ random: inout Seeded) -> [UInt8] {
        var bytes = input
        let tokens: [[UInt8]] = ["\"", "{", "}", "[", "]", ",", ":", "\\u0301", "\\ud800", "1e309", "-0", "null", "true", "\u{0301}", "\u{FEFF}"]
            .map { Array($0.utf8) }
        for _ in 0..<Int.random(in: 1...8, using: &random) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<5, using: &random) {
            case 0 where !bytes.isEmpty: bytes[at] = UInt8.random(in: 0...255, using: &random)
            case 1: bytes.insert(UInt8.random(in: 0...255, using: &random), at: at)
            case 2 where !bytes.isEmpty: bytes.remove(at: at)
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, at + Int.random(in: 1...16, using: &random))
                bytes.insert(contentsOf: Array(repeating: bytes[at..<end], count: Int.random(in: 1...200, using: &random)).joined(), at: at)
            default: bytes.insert(contentsOf: tokens.randomElement(using: &random)!, at: at)
            }
        }
        return bytes
    }

    @Test func mutatedRequestsAreDecodedOrRefusedAndKeepTheRules() {
        var random = Seeded(state: 20_261_202)
        var letThrough = 0
        for round in 0..<4_000 {
            let seed = Array(Self.seeds[round % Self.seeds.count].utf8)
            let input = Self.mutate(seed, &random)
            guard case .events(let items) = try? EventRequest.decode(Data(input), receivedAt: Self.receivedAt) else { continue }
            #expect((1...EventRequest.maxEvents).contains(items.count))
            for item in items {
                switch item.outcome {
                case .success(let event):
                    letThrough += 1
                    #expect((1...128).contains(event.id.unicodeScalars.count), "id of \(String(decoding: input, as: UTF8.self))")
                    #expect((1...64).contains(event.rep.unicodeScalars.count))
                    #expect((event.repName?.unicodeScalars.count ?? 0) <= 100)
                    #expect(event.value.isFinite && event.value >= 0 && event.value <= 1e12)
                    #expect(event.at <= Self.receivedAt + 5 * 60_000)
                case .failure(let rejection):
                    #expect(rejection.description.unicodeScalars.count < 400, "\(rejection.description.prefix(200))")
                }
            }
        }
        // The mutations are mild enough that many still decode: the rules above were exercised.
        #expect(letThrough > 100)
    }
}
