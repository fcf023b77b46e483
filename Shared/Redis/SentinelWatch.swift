import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Follows one Sentinel deployment's `+switch-master` for every connection of this process
/// to it: one thread, subscribed on each of its Sentinels, keeps the master they last named
/// and counts its changes (`epoch`). A `RedisConnection` loads the count before each call (one
/// atomic load) and, once it has moved on to a master other than the one in use, asks the
/// Sentinels for the master again: a failover is followed before the old connection breaks,
/// and a master demoted while its connection stays open (`SENTINEL FAILOVER`, a partition
/// healed) is left at once, reads included, not at the first `READONLY`.
///
/// One watch per deployment per process (`shared(_:configuration:)`), made on its first
/// connection's first use; its thread ends within a poll (0.2 s) once the last connection
/// holding it is released. A Sentinel that cannot be reached, or does not answer a PING within
/// the command timeout, is connected to again with back-off (0.1 s, doubling to 5 s), and asked
/// for the master each time it is subscribed again, so a switch announced while it was away is
/// not missed.
final class SentinelWatch: Sendable {
    /// A Sentinel deployment: its Sentinels and the name of the master they watch.
    struct Deployment: Hashable, Sendable {
        let sentinels: [RedisAddress]
        let master: String
    }

    private let state: State

    private init(_ state: State) {
        self.state = state
    }

    deinit {
        state.stopped.store(true, ordering: .releasing)
    }

    /// How many times the master the Sentinels name has changed (its first naming included).
    var epoch: UInt64 { state.epoch.load(ordering: .acquiring) }

    /// The master last named, and the epoch it was named in.
    var announced: (epoch: UInt64, master: RedisAddress?) { state.announced }

    private struct Weak {
        weak var watch: SentinelWatch?
    }

    private static let watches = Mutex<[Deployment: Weak]>([:])

    /// The process's watch on this deployment, started if no connection holds one now.
    static func shared(_ deployment: Deployment, configuration: RedisConfiguration) -> SentinelWatch {
        watches.withLock { watches in
            if let watch = watches[deployment]?.watch { return watch }
            watches = watches.filter { $0.value.watch != nil }
            let state = State()
            let watch = SentinelWatch(state)
            watches[deployment] = Weak(watch: watch)
            let subscriber = SentinelSubscriber(deployment, configuration: configuration, state: state)
            // Named after its first Sentinel's port: one name per deployment, within Linux's 15 characters.
            let name = "sentinel-\(deployment.sentinels.first?.port ?? 0)"
            let thread = Thread {
                Thread.nameCurrent(name)
                subscriber.run()
            }
            thread.start()
            return watch
        }
    }

    /// What the watch and its thread share.
    fileprivate final class State: Sendable {
        let epoch = Atomic<UInt64>(0)
        let stopped = Atomic<Bool>(false)
        private let master = Mutex<(epoch: UInt64, address: RedisAddress?)>((0, nil))

        var announced: (epoch: UInt64, master: RedisAddress?) {
            master.withLock { ($0.epoch, $0.address) }
        }

        /// A Sentinel names `address` the master: if that is a change, the epoch moves on.
        func note(_ address: RedisAddress) {
            master.withLock { master in
                guard master.address != address else { return }
                master.address = address
                master.epoch += 1
                epoch.store(master.epoch, ordering: .releasing)
            }
        }
    }
}

/// The watch's thread: a connection to each Sentinel, subscribed to `+switch-master`, all
/// polled together. `@unchecked Sendable`: handed to its thread once, used only there.
private final class SentinelSubscriber: @unchecked Sendable {
    private struct Link {
        let node: RedisNode
        var subscribed = false
        var retryAt = ContinuousClock.now
        var backoff = SentinelSubscriber.firstBackoff
        /// When the last PING went out, while its answer is awaited.
        var pinged: ContinuousClock.Instant?
        /// When the Sentinel last sent anything.
        var heard = ContinuousClock.now
    }

    static let firstBackoff: Duration = .milliseconds(100)
    static let maxBackoff: Duration = .seconds(5)
    /// How long a subscribed connection may be quiet before it is PINGed.
    static let pingAfter: Duration = .seconds(1)
    /// How long one poll waits: how soon a released watch's thread ends.
    static let pollMilliseconds: Int32 = 200

    private let deployment: SentinelWatch.Deployment
    private let configuration: RedisConfiguration
    private let state: SentinelWatch.State
    private var links: [Link]

    init(_ deployment: SentinelWatch.Deployment, configuration: RedisConfiguration, state: SentinelWatch.State) {
        self.deployment = deployment
        self.configuration = configuration
        self.state = state
        self.links = deployment.sentinels.map { Link(node: RedisNode(configuration.sentinel($0))) }
    }

    func run() {
        while !state.stopped.load(ordering: .acquiring) {
            let now = ContinuousClock.now
            for index in links.indices {
                if !links[index].subscribed {
                    if now >= links[index].retryAt { subscribe(index) }
                } else if let pinged = links[index].pinged {
                    if now - pinged > configuration.commandTimeout { drop(index) }
                } else if now - links[index].heard >= Self.pingAfter {
                    ping(index)
                }
            }
            poll()
        }
        for link in links { link.node.disconnect() }
    }

    /// SUBSCRIBE, then asks the same Sentinel for the master: a switch is either in that
    /// answer or announced on the subscription after it.
    private func subscribe(_ index: Int) {
        let node = links[index].node
        do {
            try node.write([["SUBSCRIBE", "+switch-master"]])
            let confirmation = try node.read(1)
            guard confirmation.first?.array?.first?.string == "subscribe" else {
                throw RedisError(.server, "\(node.address): SUBSCRIBE +switch-master answered \(confirmation)")
            }
            let asked = RedisNode(configuration.sentinel(node.address))
            defer { asked.disconnect() }
            if let master = masterAddress(try asked.send(["SENTINEL", "get-master-addr-by-name", deployment.master])) {
                state.note(master)
            }
            for reply in try node.buffered() { take(reply) }
            links[index].subscribed = true
            links[index].pinged = nil
            links[index].heard = .now
            links[index].backoff = Self.firstBackoff
        } catch {
            drop(index)
        }
    }

    /// Closes a Sentinel's connection and sets when to try it again.
    private func drop(_ index: Int) {
        links[index].node.disconnect()
        links[index].subscribed = false
        links[index].pinged = nil
        links[index].retryAt = .now + links[index].backoff
        links[index].backoff = min(links[index].backoff * 2, Self.maxBackoff)
    }

    private func ping(_ index: Int) {
        do {
            try links[index].node.write([["PING"]])
            links[index].pinged = .now
        } catch {
            drop(index)
        }
    }

    /// Waits for any subscribed Sentinel to send something, and takes what each sent.
    private func poll() {
        let subscribed = links.indices.filter { links[$0].subscribed }
        var fds = subscribed.map { pollfd(fd: links[$0].node.fileDescriptor ?? -1, events: Int16(POLLIN), revents: 0) }
        guard Glibc.poll(&fds, nfds_t(fds.count), Self.pollMilliseconds) > 0 else { return }
        for (index, fd) in zip(subscribed, fds) where fd.revents != 0 {
            do {
                let replies = try links[index].node.readArrived()
                links[index].heard = .now
                links[index].pinged = nil
                for reply in replies { take(reply) }
            } catch {
                drop(index)
            }
        }
    }

    /// A `+switch-master` message: `<master-name> <old-ip> <old-port> <new-ip> <new-port>`.
    /// Anything else (a PING's answer) only shows the Sentinel is there.
    private func take(_ reply: RedisReply) {
        guard let items = reply.array, items.count == 3, items[0].string == "message", items[1].string == "+switch-master",
            let words = items[2].string?.split(separator: " "), words.count == 5, words[0] == deployment.master,
            let port = Int(words[4])
        else { return }
        state.note(RedisAddress(host: String(words[3]), port: port))
    }
}

/// The address in a `SENTINEL get-master-addr-by-name` answer; nil when it names none.
func masterAddress(_ reply: RedisReply) -> RedisAddress? {
    guard let items = reply.array, items.count == 2, let host = items[0].string, let port = items[1].int else { return nil }
    return RedisAddress(host: host, port: Int(port))
}
