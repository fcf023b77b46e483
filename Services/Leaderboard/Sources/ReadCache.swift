import Foundation
import Synchronization
import TallyStore

/// Board answers kept while their org has not changed, so that a board read over and over
/// (every rep's phone showing the same top 10) costs Redis one `GET` per read instead of its page.
///
/// Nothing is answered from memory alone: each read still goes to Redis, in the round trip it
/// takes anyway (beside its token's look-up), and asks the script to answer in full only if the
/// org's version (`Keys.sequence`, moved by every score and name written) is no longer the one
/// the kept answer was read at. So an answer is never older than its read: a read made after an
/// event was acknowledged sees that event, as without the cache.
///
/// Bounded: at most `capacity` answers and `byteLimit` bytes of their encodings; when full,
/// arbitrary answers make room. An answer is kept at most `maxAge`, because a past period's
/// board expires without the org's version moving.
final class ReadCache: Sendable {
    /// An answer and what it was read at.
    struct Kept: Sendable {
        let version: String
        let answer: any FastJSON & Encodable & Sendable
        /// The answer as the ZeroMQ side sends it (`"ok": true` first).
        let zmq: Data
        let keptAt: ContinuousClock.Instant
    }

    private struct State {
        var kept: [String: Kept] = [:]
        var bytes = 0
    }

    private let state = Mutex(State())
    let capacity: Int
    let byteLimit: Int
    let maxAge: Duration

    init(capacity: Int = 4_096, byteLimit: Int = 32 << 20, maxAge: Duration = .seconds(60)) {
        self.capacity = capacity
        self.byteLimit = byteLimit
        self.maxAge = maxAge
    }

    /// What a read is kept under: its call, which names the board, period, mode and member.
    static func key(_ call: ScriptCall) -> String {
        (call.keys + call.arguments).joined(separator: "\u{0}")
    }

    /// The answer kept under `key`, unless it is older than `maxAge`.
    func kept(_ key: String, now: ContinuousClock.Instant = .now) -> Kept? {
        state.withLock { state in
            guard let kept = state.kept[key] else { return nil }
            guard now - kept.keptAt < maxAge else {
                Self.remove(key, from: &state)
                return nil
            }
            return kept
        }
    }

    /// Keeps `answer`, read at `version`, under `key` (replacing what was kept there), and
    /// returns it as kept.
    @discardableResult
    func keep(_ key: String, version: String, answer: any FastJSON & Encodable & Sendable) -> Kept {
        let kept = Kept(version: version, answer: answer, zmq: answer.json(ok: true), keptAt: .now)
        let size = Self.size(key, kept)
        guard size <= byteLimit else { return kept }
        state.withLock { state in
            Self.remove(key, from: &state)
            while !state.kept.isEmpty, state.kept.count >= capacity || state.bytes + size > byteLimit {
                Self.remove(state.kept.keys.first!, from: &state)
            }
            state.kept[key] = kept
            state.bytes += size
        }
        return kept
    }

    /// How many answers are kept, and their bytes.
    var usage: (answers: Int, bytes: Int) {
        state.withLock { ($0.kept.count, $0.bytes) }
    }

    private static func remove(_ key: String, from state: inout State) {
        guard let kept = state.kept.removeValue(forKey: key) else { return }
        state.bytes -= size(key, kept)
    }

    /// The bytes an answer holds: its key and encoding, and about as much again for the
    /// decoded answer.
    private static func size(_ key: String, _ kept: Kept) -> Int {
        key.utf8.count + 2 * kept.zmq.count
    }
}
