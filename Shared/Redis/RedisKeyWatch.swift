import Foundation
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Values of keys known without asking Redis again, for as long as Redis has not said they
/// changed: client-side caching on Redis's own tracking (`CLIENT TRACKING ... OPTIN`).
///
/// `value(of:)` answers from memory when it can, and never waits for Redis. A key it does not
/// know is read by the watch's own thread (`CLIENT CACHING YES` then `GET`, so that Redis tracks
/// the key for that connection), and known from then on, until Redis's invalidation of it
/// arrives on a subscriber connection to the same server (`__redis__:invalidate`, the tracking
/// connection's `REDIRECT`). Every `value(of:)` first reads what has arrived there, without
/// waiting: one `poll`.
///
/// How fresh that is: Redis writes an invalidation in the same turn of its event loop as its
/// reply to the write that caused it, just after it. So a value is never older than a write
/// whose writer has since heard back from Redis a second time (a writer that must be sure of
/// that, before it answers its own client, makes one more round trip: `PING` or `WAIT`).
///
/// Forgotten as well: every key of a server whose subscriber or tracking connection closed
/// (Redis tracks nothing for a closed connection, and Sentinel closes a demoted master's
/// clients), all of a server's keys when it says it flushed, and each key `lease` after it was
/// read, which bounds anything missed (a server gone silent without closing). Bounded: at most
/// `capacity` keys known or being read. A server that refuses tracking (before Redis 6, or an
/// ACL without `CLIENT`) leaves every key unknown, so callers ask Redis as before.
///
/// A service: keys are read only while `run()` runs (until then every key is unknown).
package final class RedisKeyWatch: Service, Sendable {
    private let core: Core
    private let name: String
    private let started = Atomic(false)

    package init(_ configuration: RedisConfiguration, lease: Duration = .seconds(1), capacity: Int = 10_000, name: String = "tally-keywatch") {
        core = Core(configuration, lease: lease, capacity: capacity)
        self.name = name
    }

    /// Runs the watch's thread until the calling task is cancelled or a graceful shutdown
    /// begins, then ends it (closing its connections) and returns. A watch runs once.
    package func run() async {
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        let core = core
        let name = name
        Thread {
            Thread.nameCurrent(name)
            core.loop()
            core.ended()
        }.start()
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(86_400)) }
        }
        await core.stopAndWait()
    }

    deinit { core.stop() }

    /// The key's value as Redis holds it: `.some(nil)` when it has no such key; nil when that is
    /// not known (then the key is read in the background, for the next ask).
    package func value(of key: String) -> String?? {
        core.value(of: key)
    }

    /// Forgets what is known of `key`: for a writer that changed it and is about to say so.
    package func forget(_ key: String) {
        core.forget(key)
    }


    /// The channel Redis publishes invalidations on to a `REDIRECT` target speaking RESP2.
    static let channel = "__redis__:invalidate"

    /// `@unchecked Sendable` is safe: `state` is behind its mutex, and each server's tracking
    /// connection is touched by the watch's thread alone (its descriptor only polled, under the
    /// lock, by others).
    private final class Core: @unchecked Sendable {
        let configuration: RedisConfiguration
        let lease: Duration
        let capacity: Int
        private let state: Mutex<State>
        private let wake = DispatchSemaphore(value: 0)
        /// Routes a key to its server (the master, or a cluster slot's). The watch's thread only.
        private let router: RedisConnection

        init(_ configuration: RedisConfiguration, lease: Duration, capacity: Int) {
            self.configuration = configuration
            self.lease = lease
            self.capacity = capacity
            self.router = RedisConnection(configuration)
            state = Mutex(State())
        }

        func value(of key: String) -> String?? {
            let now = ContinuousClock.now
            let (answer, wakeUp) = state.withLock { state -> (String??, Bool) in
                guard !state.refused else { return (nil, false) }
                state.drain()
                if let known = state.known[key] {
                    if now - known.readAt < lease { return (.some(known.value), false) }
                    state.known[key] = nil
                }
                return (nil, state.want(key, now: now, lease: lease, capacity: capacity))
            }
            if wakeUp { wake.signal() }
            return answer
        }

        func forget(_ key: String) {
            state.withLock { $0.forget(key) }
        }

        func stop() {
            state.withLock { $0.stopping = true }
            wake.signal()
        }

        /// Stops the thread and returns once it has ended.
        func stopAndWait() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ended = state.withLock { state in
                    state.stopping = true
                    if !state.ended { state.whenEnded = continuation }
                    return state.ended
                }
                if ended { continuation.resume() }
                wake.signal()
            }
        }

        /// Called by the thread as it ends.
        func ended() {
            let waiter = state.withLock { state in
                state.ended = true
                return state.whenEnded.take()
            }
            waiter?.resume()
        }

        func loop() {
            while true {
                let (keys, stopping) = state.withLock { state in
                    defer { state.wanted.removeAll(keepingCapacity: true) }
                    return (state.wanted, state.stopping)
                }
                if stopping {
                    let servers = state.withLock { state in
                        for server in state.servers.values { state.broken(server) }
                        return Array(state.servers.values)
                    }
                    for server in servers { server.tracking.disconnect() }
                    router.disconnect()
                    return
                }
                if ContinuousClock.now - lastPrune >= .seconds(1) {
                    prune()
                    lastPrune = .now
                }
                if keys.isEmpty {
                    _ = wake.wait(timeout: .now() + 1)
                    continue
                }
                read(keys)
            }
        }

        private var lastPrune = ContinuousClock.now

        /// Once a second: a server whose keys no longer route to it (Sentinel or a cluster
        /// moved the master elsewhere, perhaps without closing our connections) is dropped
        /// with all it knew.
        private func prune() {
            let samples = state.withLock { state in
                state.servers.values.compactMap { server in
                    state.known.first { $0.value.server == server.address }.map { (server: server, key: $0.key) }
                }
            }
            if case .cluster = configuration.deployment, !samples.isEmpty { router.slotsMoved() }
            for (server, key) in samples {
                guard let address = try? router.route(.init(["GET", key])).address, address != server.address else { continue }
                state.withLock { state in
                    state.broken(server)
                    state.servers[server.address] = nil
                }
                server.tracking.disconnect()
            }
        }

        /// Reads `keys` with tracking on, one pipeline per server, and keeps each value unless
        /// Redis invalidated the key while it was being read.
        private func read(_ keys: [String]) {
            var byServer: [RedisAddress: [String]] = [:]
            for key in keys {
                do {
                    byServer[try router.route(.init(["GET", key])).address, default: []].append(key)
                } catch {
                    failed(keys: [key], error)
                }
            }
            for (address, keys) in byServer {
                let server = state.withLock { state in
                    if let server = state.servers[address] { return server }
                    let server = Server(address: address, tracking: RedisNode(configuration.node(address)))
                    state.servers[address] = server
                    return server
                }
                do {
                    if !state.withLock({ _ in server.ready }) { try setUp(server) }
                    state.withLock { state in
                        for key in keys { state.reading[key] = true }
                        server.busy = true
                    }
                    let replies = try server.tracking.pipeline(keys.flatMap { [["CLIENT", "CACHING", "YES"], ["GET", $0]] })
                    let now = ContinuousClock.now
                    let moved = state.withLock { state -> Bool in
                        server.busy = false
                        // What was invalidated meanwhile is read first, so it is not kept.
                        state.drain()
                        var moved = false
                        for (index, key) in keys.enumerated() {
                            // Tracked only if Redis took `CLIENT CACHING YES` just before.
                            let clean = state.reading.removeValue(forKey: key) == true && replies[2 * index] == .status("OK")
                            switch replies[2 * index + 1] {
                            case .bulk(let data) where clean && server.ready:
                                state.known[key] = Known(value: String(decoding: data, as: UTF8.self), server: address, readAt: now)
                            case .null where clean && server.ready:
                                state.known[key] = Known(value: nil, server: address, readAt: now)
                            case .error:
                                moved = true  // MOVED or ASK on a cluster: asked again later
                            default:
                                continue
                            }
                        }
                        return moved
                    }
                    if moved { router.slotsMoved() }
                } catch {
                    state.withLock { state in
                        server.busy = false
                        state.broken(server)
                    }
                    server.tracking.disconnect()
                    failed(keys: keys, error)
                }
            }
        }

        /// The server will not track for us (before Redis 6, or an ACL without `CLIENT`).
        struct Refused: Error {}

        static func refusesTracking(_ error: RedisError) -> Bool {
            guard error.kind == .server else { return false }
            let message = error.message.lowercased()
            return error.code == "NOPERM" || message.contains("unknown command") || message.contains("unknown subcommand")
                || message.contains("syntax error")
        }

        /// A fresh subscriber and tracking connection for `server`, tracking redirected to it.
        /// What was known of the server is forgotten first: it was tracked on the old ones.
        private func setUp(_ server: Server) throws {
            state.withLock { $0.broken(server) }
            server.tracking.disconnect()
            let subscriber = RedisNode(configuration.node(server.address))
            do {
                guard let id = try subscriber.send(["CLIENT", "ID"]).int else { throw Refused() }
                try subscriber.send(["SUBSCRIBE", RedisKeyWatch.channel])
                try server.tracking.send(["CLIENT", "TRACKING", "ON", "REDIRECT", String(id), "OPTIN"])
            } catch let error as RedisError where Self.refusesTracking(error) {
                throw Refused()
            }
            let fd = server.tracking.fileDescriptor
            state.withLock { state in
                server.subscriber = subscriber
                server.trackingDescriptor = fd
                server.ready = true
            }
        }

        /// Keys not read: asked again on a later `value(of:)` after a second, never when the
        /// server refuses tracking.
        private func failed(keys: [String], _ error: any Error) {
            let refused = error is Refused
            state.withLock { state in
                for key in keys { state.reading[key] = nil }
                if refused { state.refused = true }
                state.retryAt = .now + .seconds(1)
            }
        }
    }

    private struct Known {
        let value: String?
        let server: RedisAddress
        let readAt: ContinuousClock.Instant
    }

    /// One server's connections. `tracking` belongs to the watch's thread; the rest is read and
    /// written under the state's lock (which makes `@unchecked Sendable` safe).
    private final class Server: @unchecked Sendable {
        let address: RedisAddress
        let tracking: RedisNode
        var subscriber: RedisNode?
        var trackingDescriptor: Int32?
        /// Both connections are up and tracking points at the subscriber.
        var ready = false
        /// A pipeline is in flight on `tracking` (then its replies make it readable).
        var busy = false

        init(address: RedisAddress, tracking: RedisNode) {
            self.address = address
            self.tracking = tracking
        }
    }

    private struct State {
        var known: [String: Known] = [:]
        /// Keys being read, and whether no invalidation of them has arrived since.
        var reading: [String: Bool] = [:]
        var wanted: [String] = []
        var servers: [RedisAddress: Server] = [:]
        var stopping = false
        var ended = false
        var whenEnded: CheckedContinuation<Void, Never>?
        /// A server refused tracking: nothing is watched.
        var refused = false
        /// No key is read before this (a server could not be reached).
        var retryAt: ContinuousClock.Instant?

        /// Whether `key` is now to be read (and the watch's thread must be woken).
        mutating func want(_ key: String, now: ContinuousClock.Instant, lease: Duration, capacity: Int) -> Bool {
            // A key in `wanted` is being read too.
            guard reading[key] == nil, retryAt.map({ now >= $0 }) ?? true else { return false }
            if known.count + reading.count >= capacity {
                known = known.filter { now - $0.value.readAt < lease }
                guard known.count + reading.count < capacity else { return false }
            }
            reading[key] = true
            wanted.append(key)
            return wanted.count == 1
        }

        mutating func forget(_ key: String) {
            known[key] = nil
            if reading[key] != nil { reading[key] = false }
        }

        /// Reads what has arrived from the servers, without waiting: invalidations, and
        /// connections that closed.
        mutating func drain() {
            var descriptors: [pollfd] = []
            var owners: [(server: Server, subscriber: Bool)] = []
            for server in servers.values where server.ready {
                if let fd = server.subscriber?.fileDescriptor {
                    descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
                    owners.append((server, true))
                }
                if !server.busy, let fd = server.trackingDescriptor {
                    descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
                    owners.append((server, false))
                }
            }
            guard !descriptors.isEmpty else { return }
            let ready = poll(&descriptors, nfds_t(descriptors.count), 0)
            guard ready != 0 else { return }
            guard ready > 0 else {
                // Not knowing what arrived, nothing known is to be trusted.
                for server in servers.values { broken(server) }
                return
            }
            for (descriptor, owner) in zip(descriptors, owners) where descriptor.revents != 0 && owner.server.ready {
                // With OPTIN, the tracking connection sends nothing unasked: readable, it closed.
                guard owner.subscriber, let subscriber = owner.server.subscriber else {
                    broken(owner.server)
                    continue
                }
                do {
                    // One read takes at most hiredis's buffer (16 KiB, some 200 invalidations):
                    // read until the socket holds nothing more.
                    repeat {
                        for message in try subscriber.readArrived() { invalidate(message, on: owner.server) }
                    } while Self.readable(descriptor.fd)
                } catch {
                    broken(owner.server)
                }
            }
        }

        private static func readable(_ fd: Int32) -> Bool {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            return poll(&descriptor, 1, 0) > 0
        }

        /// `["message", channel, [key, ...]]`, or a null for every key (a flush).
        private mutating func invalidate(_ message: RedisReply, on server: Server) {
            guard let parts = message.array, parts.count == 3, parts[0].string == "message" else { return }
            switch parts[2] {
            case .array(let keys):
                for key in keys { if let key = key.string { forget(key) } }
            case .bulk(let key):
                forget(String(decoding: key, as: UTF8.self))
            default:
                forgetAll(of: server)
            }
        }

        /// The server's connections are no longer to be trusted: nothing of it is known until
        /// they are set up again.
        mutating func broken(_ server: Server) {
            server.subscriber?.disconnect()
            server.subscriber = nil
            server.ready = false
            forgetAll(of: server)
        }

        private mutating func forgetAll(of server: Server) {
            known = known.filter { $0.value.server != server.address }
            for key in reading.keys { reading[key] = false }
        }
    }
}
