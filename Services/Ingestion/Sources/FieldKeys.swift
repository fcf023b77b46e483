import Dispatch
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
/// within one refresh. While Redis cannot be reached the last set read stays in force.
final class FieldKeys: Sendable {
    static let refreshInterval: Duration = .seconds(1)

    private let orgs = Mutex<[String: String]>([:])
    private let store: FieldKeyStore
    private let logger: Logger

    init(redis: RedisClient, logger: Logger) {
        self.store = FieldKeyStore(redis: redis)
        self.logger = logger
    }

    /// The org `publicKey` writes for; nil when it is not (or no longer) registered.
    func org(of publicKey: String) -> String? {
        orgs.withLock { $0[publicKey] }
    }

    /// What the ZAP handler answers a field app's handshake. A key not known here is looked up
    /// in Redis once before it is refused, so a key registered a moment ago gets in at once (a
    /// refused client does not try again by itself). Look-ups are bounded (`maxLookUpsPerSecond`),
    /// so a flood of invented keys costs Redis little; beyond it they are refused unasked.
    func decide(_ request: ZAPHandler.Request) -> ZAPHandler.Decision {
        guard let key = request.publicKey else { return .deny(reason: "CURVE only") }
        if org(of: key) != nil || lookUp(key) { return .allow(userID: key) }
        return .deny(reason: "key not registered")
    }

    static let maxLookUpsPerSecond = 20
    private let lookUps = Mutex<(second: Int64, count: Int)>((0, 0))

    /// Reads one key's entry of the index (waiting at most half a second); true when it is
    /// registered, and then it is known here from now on. Called on the ZAP handler's thread.
    private func lookUp(_ key: String) -> Bool {
        let second = Timestamp.now() / 1000
        let allowed = lookUps.withLock { state in
            if state.second != second { state = (second, 0) }
            state.count += 1
            return state.count <= Self.maxLookUpsPerSecond
        }
        guard allowed else { return false }
        let found = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let store = self.store
        Task {
            let entry = try? await store.registered(key)
            found.withLock { $0 = entry?.org }
            done.signal()
        }
        guard done.wait(timeout: .now() + .milliseconds(500)) == .success, let org = found.withLock({ $0 }) else { return false }
        orgs.withLock { $0[key] = org }
        return true
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
                    orgs.withLock { $0 = registered.mapValues(\.org) }
                    if version >= 0 || !registered.isEmpty {
                        logger.info("field keys read", metadata: ["keys": "\(registered.count)"])
                    }
                    version = current
                }
                if failing { logger.notice("field keys: Redis answers again") }
                failing = false
            } catch {
                if !failing { logger.warning("field keys: cannot read them from Redis; the last set read stays in force", metadata: ["error": "\(error)"]) }
                failing = true
            }
            try? await Task.sleep(for: Self.refreshInterval)
        }
    }
}
