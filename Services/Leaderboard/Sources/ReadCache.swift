import Foundation
import Synchronization
import TallyStore

/// Board answers kept while their org has not changed, so that a board read over and over
/// (every rep's phone showing the same top 10) costs Redis nothing, or one `GET`, per read
/// instead of its page.
///
/// A read that holds a kept answer goes to Redis in the round trip it takes anyway (beside its
/// token's look-up), and asks the script to answer in full only if the org's version
/// (`Keys.sequence`, moved by every score and name written) is no longer the one the kept
/// answer was read at; or, with no token to look up, it is answered from memory when the
/// org's version is known without asking (`Operations.current`, on Redis's own tracking:
/// `RedisKeyWatch`). Either way an answer is never older than its read: a read made after an
/// event was acknowledged sees that event, as without the cache.
///
/// Bounded: at most `capacity` answers and `byteLimit` bytes of their encodings; when full,
/// arbitrary answers make room. An answer is kept at most `maxAge`, because a past period's
/// board expires without the org's version moving. An answer is kept from the second time its
/// read is asked (while the first is remembered, among `capacity` reads), so a stream of reads
/// each asked once (the ranks of many different members) costs no keeping and pushes nothing
/// out, while a board on every phone is kept from its second read.
final class ReadCache: Sendable {
    /// An answer and what it was read at, with its encodings made once. Encodes as the answer.
    struct Kept: Sendable, Encodable {
        let version: String
        let answer: any FastJSON & Encodable & Sendable
        /// The answer as the ZeroMQ side sends it (`"ok": true` first).
        let zmq: Data
        let keptAt: ContinuousClock.Instant
        /// The read's key, which the table's hash of it stands for.
        let key: String

        init(version: String, answer: any FastJSON & Encodable & Sendable, key: String) {
            self.version = version
            self.answer = answer
            self.zmq = answer.json(ok: true)
            self.keptAt = .now
            self.key = key
        }

        /// The answer as HTTP sends it: the same object without its leading `"ok":true`
        /// (`{"ok":true,"a":…}` → `{"a":…}`), a copy rather than encoding it again.
        var http: Data {
            let ok = #"{"ok":true"#.utf8.count
            return zmq.count > ok + 1 ? Data("{".utf8) + zmq.dropFirst(ok + 1) : Data("{}".utf8)
        }

        func encode(to encoder: any Encoder) throws {
            try answer.encode(to: encoder)
        }
    }

    private struct State {
        /// By the key's hash: a lookup compares integers, and a hit checks the key once.
        var kept: [Int: Kept] = [:]
        var bytes = 0
        /// The hashes of reads asked once, each in the slot its hash picks.
        var seen: [Int]
    }

    private let state: Mutex<State>
    let capacity: Int
    let byteLimit: Int
    let maxAge: Duration

    init(capacity: Int = 4_096, byteLimit: Int = 32 << 20, maxAge: Duration = .seconds(60)) {
        self.capacity = capacity
        self.byteLimit = byteLimit
        self.maxAge = maxAge
        state = Mutex(State(seen: [Int](repeating: 0, count: max(1, capacity))))
    }

    /// What a read is kept under: its call, which names the board, period, mode and member.
    static func key(_ call: ScriptCall) -> String {
        (call.keys + call.arguments).joined(separator: "\u{0}")
    }

    /// The answer kept under `key`, unless it is older than `maxAge`.
    func kept(_ key: String, now: ContinuousClock.Instant = .now) -> Kept? {
        let hash = key.hashValue
        return state.withLock { state in
            guard let kept = state.kept[hash], kept.key == key else { return nil }
            guard now - kept.keptAt < maxAge else {
                Self.remove(hash, from: &state)
                return nil
            }
            return kept
        }
    }

    /// Keeps `answer`, read at `version`, under `key` (replacing what was kept there) if the
    /// read was asked before, and returns it as kept.
    @discardableResult
    func keep(_ key: String, version: String, answer: any FastJSON & Encodable & Sendable) -> Kept {
        let kept = Kept(version: version, answer: answer, key: key)
        let size = Self.size(kept)
        guard size <= byteLimit else { return kept }
        let hash = key.hashValue
        state.withLock { state in
            if state.kept[hash] == nil {
                // Asked for the first time (as far as is remembered): remembered, not kept.
                let slot = Int(UInt(bitPattern: hash) % UInt(state.seen.count))
                guard state.seen[slot] == hash else {
                    state.seen[slot] = hash
                    return
                }
            }
            Self.remove(hash, from: &state)
            while !state.kept.isEmpty, state.kept.count >= capacity || state.bytes + size > byteLimit {
                Self.remove(state.kept.keys.first!, from: &state)
            }
            state.kept[hash] = kept
            state.bytes += size
        }
        return kept
    }

    /// How many answers are kept, and their bytes.
    var usage: (answers: Int, bytes: Int) {
        state.withLock { ($0.kept.count, $0.bytes) }
    }

    private static func remove(_ hash: Int, from state: inout State) {
        guard let kept = state.kept.removeValue(forKey: hash) else { return }
        state.bytes -= size(kept)
    }

    /// The bytes an answer holds: its key and encoding, and about as much again for the
    /// decoded answer.
    private static func size(_ kept: Kept) -> Int {
        kept.key.utf8.count + 2 * kept.zmq.count
    }
}
