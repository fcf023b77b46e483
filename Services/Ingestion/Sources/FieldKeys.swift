import Logging
import Redis
import Synchronization
import TallyDomain
import TallyStore
import ZeroMQ

/// The registered field keys as this ingestion instance knows them (public key → org), read
/// whole from Redis at start and again whenever the index's version moves, which is looked
/// at every `refreshInterval`. The ZAP handler admits a handshake by it, and the broker checks
/// every request's key against it, so a revoked key is refused on connections already open
/// within one refresh.
///
/// The ZAP handler never waits on Redis: a handshake whose key is not known here waits (the
/// handler answers it later) while the key is looked up in the background, and handshakes
/// that come before the first read of the set wait for it (while Redis cannot be read, until
/// libzmq's handshake timeout drops them and the peers connect again). A refusal is for good
/// (libzmq does not retry it), so nothing is refused for not knowing yet. Once reads have failed for
/// `staleAfter`, requests are answered unavailable rather than taken on a set that may have
/// revoked keys in it; handshakes are still decided by the last set read.
final class FieldKeys: Sendable {
    static let refreshInterval: Duration = .seconds(1)
    /// How long the set read last stays in force while Redis cannot be read.
    static let staleAfter: Int64 = 5_000
    /// Look-ups of unknown keys started per second, at most; beyond, unknown keys are refused
    /// unasked, so a flood of invented keys costs Redis little.
    static let maxLookUpsPerSecond = 20
    /// Keys Redis said are not registered, remembered until the set changes (at most this many).
    static let maxRefused = 10_000

    /// What the broker makes of a request's key.
    enum Standing: Equatable {
        case org(String)
        case notRegistered
        /// The set is not known now (never read, or not read for `staleAfter`).
        case unknown
    }

    private struct State {
        var orgs: [String: String] = [:]
        /// Moves with every read of the whole set: a look-up that began before one does not
        /// write what it found over it (a revocation may be in the newer read).
        var generation = 0
        var readAt: Int64?
        var refused: Set<String> = []
        var lookUpSecond: Int64 = 0
        var lookUpsThisSecond = 0
        /// Handshakes that came before the first read, answered by it.
        var awaitingFirstRead: [(key: String, answer: @Sendable (ZAPHandler.Decision) -> Void)] = []
    }
    /// Handshakes that may wait for the first read, at most.
    static let maxAwaitingFirstRead = 10_000

    private let state = Mutex(State())
    private let store: FieldKeyStore
    private let logger: Logger

    init(redis: RedisClient, logger: Logger) {
        self.store = FieldKeyStore(redis: redis)
        self.logger = logger
    }

    private static func isFresh(_ state: State, now: Int64) -> Bool {
        state.readAt.map { now - $0 <= staleAfter } ?? false
    }

    /// The org `publicKey` writes for, as far as this instance knows now.
    func standing(of publicKey: String, now: Int64 = Timestamp.now()) -> Standing {
        state.withLock { state in
            guard Self.isFresh(state, now: now) else { return .unknown }
            return state.orgs[publicKey].map(Standing.org) ?? .notRegistered
        }
    }

    /// What the ZAP handler answers a field app's handshake: at once when the key is known
    /// (admitted) or known not to be (refused), else nil, and `request.answer` once it is.
    func decide(_ request: ZAPHandler.Request) -> ZAPHandler.Decision? {
        guard let key = request.publicKey else { return .deny(reason: "CURVE only") }
        let now = Timestamp.now()
        enum Next { case decided(ZAPHandler.Decision?), lookUp(generation: Int) }
        let next: Next = state.withLock { state in
            if state.readAt == nil {
                guard state.awaitingFirstRead.count < Self.maxAwaitingFirstRead else { return .decided(.deny(reason: "busy")) }
                state.awaitingFirstRead.append((key, request.answer))
                return .decided(nil)
            }
            if state.orgs[key] != nil { return .decided(.allow(userID: key)) }
            if state.refused.contains(key) { return .decided(.deny(reason: "key not registered")) }
            let second = now / 1000
            if state.lookUpSecond != second { (state.lookUpSecond, state.lookUpsThisSecond) = (second, 0) }
            guard state.lookUpsThisSecond < Self.maxLookUpsPerSecond else { return .decided(.deny(reason: "busy: too many unknown keys")) }
            state.lookUpsThisSecond += 1
            return .lookUp(generation: state.generation)
        }
        switch next {
        case .decided(let decision):
            return decision
        case .lookUp(let generation):
            // Not answered when Redis can't be read: the handshake times out and the peer tries again.
            Task { if let decision = await lookUp(key, generation: generation) { request.answer(decision) } }
            return nil
        }
    }

    /// Reads one key's entry of the index, and records what it says unless the whole set was
    /// read again meanwhile (that read decides, as it may have a revocation in it).
    private func lookUp(_ key: String, generation: Int) async -> ZAPHandler.Decision? {
        let entry: (org: String, id: String)??
        do { entry = try await store.registered(key) } catch { entry = nil }
        return state.withLock { state in
            guard let entry else { return nil }
            guard state.generation == generation else {
                return state.orgs[key] != nil ? .allow(userID: key) : .deny(reason: "key not registered")
            }
            if let entry {
                state.orgs[key] = entry.org
                return .allow(userID: key)
            }
            if state.refused.count < Self.maxRefused { state.refused.insert(key) }
            return .deny(reason: "key not registered")
        }
    }

    /// Reads the keys, then follows their changes until cancelled.
    func follow() async {
        var version = -1
        var failing = false
        while !Task.isCancelled {
            do {
                let current = try await store.currentVersion()
                if current != version {
                    let registered = try await store.registered()
                    let waiting = state.withLock { state in
                        state.orgs = registered.mapValues(\.org)
                        state.refused = []
                        state.generation += 1
                        state.readAt = Timestamp.now()
                        defer { state.awaitingFirstRead = [] }
                        return state.awaitingFirstRead
                    }
                    for (key, answer) in waiting {
                        answer(registered[key] != nil ? .allow(userID: key) : .deny(reason: "key not registered"))
                    }
                    logger.info("field keys read", metadata: ["keys": "\(registered.count)"])
                    version = current
                }
                state.withLock { $0.readAt = Timestamp.now() }
                if failing { logger.notice("field keys: Redis answers again") }
                failing = false
            } catch {
                if !failing {
                    logger.warning(
                        "field keys: cannot read them from Redis; after \(Self.staleAfter / 1000) s requests are answered unavailable",
                        metadata: ["error": "\(error)"])
                }
                failing = true
            }
            try? await Task.sleep(for: Self.refreshInterval)
        }
    }
}
