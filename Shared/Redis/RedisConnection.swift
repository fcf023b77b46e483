import Foundation

/// A blocking connection to a Redis deployment (one server, a Redis Cluster, or the master
/// that Sentinel names), as `RedisConfiguration.deployment` says. Not thread-safe: one owner
/// calls it from one thread at a time (a worker's own thread, or a `RedisClient` connection's
/// thread), never from the cooperative pool.
///
/// Callers see one server. On a cluster each command goes to the master of its first key's
/// slot (a connection per master, made on first use); a pipeline is split per master, the
/// parts written to all of them before any reply is read, and the replies put back in order.
/// `MOVED` refreshes the slot map and sends the command where it said; `ASK` sends it there
/// once behind `ASKING`; `TRYAGAIN` and `CLUSTERDOWN` wait (doubling, within the command
/// timeout) and try again. None of these replies means the command ran, so none is doubled.
/// Scripts are loaded on each server that runs them; a `NOSCRIPT` reloads it there and runs
/// just the calls that it refused again. With Sentinel, the master is asked of the Sentinels
/// whenever a connection has to be made, and must say `ROLE` master before it is used; the
/// process's `SentinelWatch` hears `+switch-master`, and the first call after a switch goes
/// to the new master (the old connection is dropped, even if it still works).
///
/// The connection is made on first use. When it breaks, the call in flight throws a
/// `.connection` error and the next call connects again (asking again where to).
package final class RedisConnection {
    package let configuration: RedisConfiguration
    /// A connection per server, by address: the one server, the Sentinel's master, or each
    /// cluster node used.
    private var nodes: [RedisAddress: RedisNode] = [:]
    /// The master a `.server` or `.sentinel` deployment sends everything to, once known.
    private var master: RedisNode?
    /// One server or Sentinel: the servers written to since `takeWrittenMasters()` was last
    /// called. More than one means Sentinel switched masters in the middle of a batch.
    private var written: Set<RedisAddress> = []
    /// A cluster's slot map, once read; `slotsStale` says read it again before the next call.
    private var slots: SlotMap?
    private var slotsStale = true
    /// Sentinel: a connection to each Sentinel asked.
    private var sentinels: [RedisAddress: RedisNode] = [:]
    /// Sentinel: the process's follower of `+switch-master` (from the first connection made),
    /// and its epoch when the master in use was asked for.
    private var watch: SentinelWatch?
    private var epochSeen: UInt64 = 0

    /// The most rounds one call takes through redirections and waits before it gives up.
    static let maxRounds = 32

    package init(_ configuration: RedisConfiguration) {
        self.configuration = configuration
    }

    package convenience init(url: String) throws(RedisError) {
        self.init(try RedisConfiguration(url: url))
    }

    package var isConnected: Bool { nodes.values.contains { $0.isConnected } }

    /// Connects now, instead of on the first command (on a cluster: reads its slot map).
    package func connect() throws(RedisError) {
        switch configuration.deployment {
        case .server, .sentinel: _ = try masterNode()
        case .cluster:
            try refreshSlots()
            for address in slots?.masters ?? [] { try node(address).connect() }
        }
    }

    /// Closes every connection; the next command opens them again.
    package func disconnect() {
        for node in nodes.values { node.disconnect() }
        for sentinel in sentinels.values { sentinel.disconnect() }
        master = nil
        slotsStale = true
    }

    // MARK: - Commands

    /// Sends one command and waits for its reply. An error reply is thrown. On a cluster, a
    /// command about a whole server's keys (DBSIZE, KEYS, FLUSHALL, FLUSHDB, SCRIPT) goes to
    /// every master and their replies are added up, joined, or checked alike.
    @discardableResult
    package func send(_ arguments: [any RedisArgument]) throws(RedisError) -> RedisReply {
        if case .cluster = configuration.deployment, let name = arguments.first.map(CommandKeys.upperName),
            CommandKeys.everyMaster.contains(name)
        {
            return try sendToEveryMaster(arguments, name: name)
        }
        return try execute([Call(arguments)])[0].throwingError()
    }

    @discardableResult
    package func send(_ arguments: any RedisArgument...) throws(RedisError) -> RedisReply {
        try send(arguments)
    }

    /// Sends every command at once and reads the replies in one round trip (on a cluster, one
    /// per master, all at once). Error replies come back in place as `.error`; only a
    /// connection failure throws.
    package func pipeline(_ commands: [[any RedisArgument]]) throws(RedisError) -> [RedisReply] {
        try execute(commands.map { Call($0) })
    }

    /// Runs a Lua script by its SHA1, loading it first when the server does not have it
    /// (a new connection, a restarted server, or after SCRIPT FLUSH).
    @discardableResult
    package func run(
        _ script: RedisScript, keys: [any RedisArgument] = [], arguments: [any RedisArgument] = []
    ) throws(RedisError) -> RedisReply {
        try execute([Call(script, keys: keys, arguments: arguments)])[0].throwingError()
    }

    /// Runs a script once per call in one round trip (EVALSHA pipelined), loading it first
    /// when needed. Error replies come back in place; calls refused with NOSCRIPT (the server
    /// lost its scripts meanwhile) run once more after the script is loaded again.
    package func pipeline(
        _ script: RedisScript, calls: [(keys: [String], arguments: [String])]
    ) throws(RedisError) -> [RedisReply] {
        try execute(calls.map { Call(script, keys: $0.keys, arguments: $0.arguments) })
    }

    /// Calls of several scripts, in order, in one round trip: a write and the script that
    /// brings what is derived from it up to date.
    package func pipeline(
        scripted calls: [(script: RedisScript, keys: [String], arguments: [String])]
    ) throws(RedisError) -> [RedisReply] {
        try execute(calls.map { Call($0.script, keys: $0.keys, arguments: $0.arguments) })
    }

    /// Plain commands, then one call of `script` each, all in one round trip: a read and what
    /// it needs checked first (a token's look-up) cost one trip.
    package func pipeline(
        _ commands: [[any RedisArgument]], then script: RedisScript, calls: [(keys: [String], arguments: [String])]
    ) throws(RedisError) -> (commands: [RedisReply], calls: [RedisReply]) {
        let replies = try execute(commands.map { Call($0) } + calls.map { Call(script, keys: $0.keys, arguments: $0.arguments) })
        return (Array(replies.prefix(commands.count)), Array(replies.dropFirst(commands.count)))
    }

    /// One server or Sentinel: the servers written to since the last call, which forgets them.
    /// (A cluster's masters are `connectedMasters`.)
    package func takeWrittenMasters() -> Set<RedisAddress> {
        defer { written = [] }
        return written
    }

    /// Sends a command that takes no key to every master this connection has open, e.g. `WAIT`
    /// after writes (on one server or Sentinel's master: to that one). It goes to the servers
    /// written to, never to a master Sentinel switched to since: if it has switched, this
    /// throws a `.connection` error, since what was written may be lost with the old master.
    package func sendToConnectedMasters(_ arguments: [any RedisArgument]) throws(RedisError) -> [(master: RedisAddress, reply: RedisReply)] {
        let masters: [RedisNode]
        switch configuration.deployment {
        case .server, .sentinel:
            if let master, master.isConnected {
                if let switched = switchedFrom(master) {
                    drop(master.address)
                    throw RedisError(.connection, "\(master.address): Sentinel has switched the master to \(switched) since it was written to")
                }
                masters = [master]
            } else {
                masters = [try masterNode()]
            }
        case .cluster:
            masters = connectedMasterNodes
        }
        var replies: [(RedisAddress, RedisReply)] = []
        for node in masters { replies.append((node.address, try node.send(arguments))) }
        return replies
    }

    /// The masters this connection has open, with no I/O: the ones `sendToConnectedMasters`
    /// sends to (unless it has to connect first).
    package var connectedMasters: [RedisAddress] {
        switch configuration.deployment {
        case .server, .sentinel: master.flatMap { $0.isConnected ? [$0.address] : nil } ?? []
        case .cluster: connectedMasterNodes.map(\.address)
        }
    }

    private var connectedMasterNodes: [RedisNode] {
        let known = Set(slots?.masters ?? [])
        return nodes.values.filter { $0.isConnected && known.contains($0.address) }.sorted { $0.address.description < $1.address.description }
    }

    /// Closes the connection to one server (one no longer a master, say): the next call that
    /// needs it asks again where to go (Sentinel, or the cluster's slot map).
    package func drop(_ address: RedisAddress) {
        nodes[address]?.disconnect()
        if master?.address == address { master = nil }
        slotsStale = true
    }

    // MARK: - Calls

    /// Commands and calls of scripts, mixed, in order, in one round trip: a write and the
    /// checks that decide what follows it.
    package func pipeline(_ calls: [Call]) throws(RedisError) -> [RedisReply] {
        try execute(calls)
    }

    /// A command, or a call of a script (its arguments then are the key count, keys and other
    /// arguments, to follow `EVALSHA <sha>`).
    package struct Call: Sendable {
        let arguments: [any RedisArgument]
        let script: RedisScript?
        /// The slot of its first key; nil for none.
        let slot: Int?

        package init(_ arguments: [any RedisArgument]) {
            self.arguments = arguments
            self.script = nil
            self.slot = CommandKeys.firstKey(arguments).map(HashSlot.of)
        }

        package init(_ script: RedisScript, keys: [any RedisArgument], arguments: [any RedisArgument]) {
            self.arguments = [keys.count] + keys + arguments
            self.script = script
            self.slot = keys.first.map(HashSlot.of)
        }

        func command(on node: RedisNode) throws(RedisError) -> [any RedisArgument] {
            guard let script else { return arguments }
            return ["EVALSHA", try node.sha(script)] + arguments
        }
    }

    private func execute(_ calls: [Call]) throws(RedisError) -> [RedisReply] {
        guard !calls.isEmpty else { return [] }
        switch configuration.deployment {
        case .server, .sentinel: return try executeOnMaster(calls)
        case .cluster: return try executeOnCluster(calls)
        }
    }

    /// One server: one pipeline, and the calls refused with NOSCRIPT once more.
    private func executeOnMaster(_ calls: [Call]) throws(RedisError) -> [RedisReply] {
        var replies = [RedisReply?](repeating: nil, count: calls.count)
        var pending = Array(calls.indices)
        for attempt in 0..<2 {
            let node = try masterNode()
            written.insert(node.address)
            var commands: [[any RedisArgument]] = []
            commands.reserveCapacity(pending.count)
            for index in pending { commands.append(try calls[index].command(on: node)) }
            let got: [RedisReply]
            do {
                got = try node.pipeline(commands)
            } catch {
                master = nil
                throw error
            }
            var again: [Int] = []
            var readOnly = false
            for (index, reply) in zip(pending, got) {
                if attempt == 0, let script = calls[index].script, reply.errorCode == "NOSCRIPT" {
                    node.forget(script)
                    again.append(index)
                } else {
                    // A master demoted to replica under us: ask Sentinel again from the next call.
                    if reply.errorCode == "READONLY" { readOnly = true }
                    replies[index] = reply
                }
            }
            if readOnly, case .sentinel = configuration.deployment {
                node.disconnect()
                master = nil
            }
            pending = again
            if pending.isEmpty { break }
        }
        return replies.map { $0! }
    }

    /// A cluster: each call to its slot's master, in rounds until every call has an answer
    /// that is not a redirection or a "wait" (or the rounds or the command timeout run out:
    /// then the last such reply is the answer).
    private func executeOnCluster(_ calls: [Call]) throws(RedisError) -> [RedisReply] {
        var replies = [RedisReply?](repeating: nil, count: calls.count)
        /// Where a call must go instead of its slot's master (after MOVED or ASK), and whether behind ASKING.
        var redirected = [(address: RedisAddress, asking: Bool)?](repeating: nil, count: calls.count)
        var pending = Array(calls.indices)
        var pause = 0.005
        let deadline = ContinuousClock.now + configuration.commandTimeout
        for round in 0..<Self.maxRounds {
            if slotsStale || slots == nil { try refreshSlots() }
            guard let slots else { throw RedisError(.connection, "the cluster's slot map could not be read") }

            // Group by server, keeping each server's calls in their order.
            var groups: [(node: RedisNode, calls: [Int])] = []
            var position: [RedisAddress: Int] = [:]
            for index in pending {
                let address = redirected[index]?.address ?? calls[index].slot.flatMap(slots.master(of:)) ?? slots.masters.first
                guard let address else {
                    throw RedisError(.server, "CLUSTERDOWN no master serves slot \(calls[index].slot ?? 0)")
                }
                if let at = position[address] {
                    groups[at].calls.append(index)
                } else {
                    position[address] = groups.count
                    groups.append((node(address), [index]))
                }
            }

            // Write every server's part, then read them all: the servers work at once.
            var written: [RedisNode] = []
            do {
                for (node, indices) in groups {
                    var commands: [[any RedisArgument]] = []
                    for index in indices {
                        if redirected[index]?.asking == true { commands.append(["ASKING"]) }
                        commands.append(try calls[index].command(on: node))
                    }
                    written.append(node)
                    try node.write(commands)
                }
            } catch {
                abandon(written)
                throw error
            }

            var again: [Int] = []
            var wait = false
            for (groupIndex, (node, indices)) in groups.enumerated() {
                let asking = indices.count { redirected[$0]?.asking == true }
                let got: [RedisReply]
                do {
                    got = try node.read(indices.count + asking)
                } catch {
                    abandon(Array(written[groupIndex...]))
                    throw error
                }
                var replyIndex = 0
                for index in indices {
                    if redirected[index]?.asking == true { replyIndex += 1 }  // ASKING's +OK
                    let reply = got[replyIndex]
                    replyIndex += 1
                    let last = round == Self.maxRounds - 1
                    switch Redirection(reply) {
                    case .moved(let address) where !last:
                        slotsStale = true
                        redirected[index] = (address, false)
                        again.append(index)
                    case .ask(let address) where !last:
                        redirected[index] = (address, true)
                        again.append(index)
                    case .tryAgain where !last, .clusterDown where !last:
                        if case .clusterDown = Redirection(reply) { slotsStale = true }
                        redirected[index] = nil
                        wait = true
                        again.append(index)
                    case .noScript where !last && calls[index].script != nil:
                        node.forget(calls[index].script!)
                        again.append(index)
                    default:
                        replies[index] = reply
                    }
                }
            }
            pending = again
            if pending.isEmpty { break }
            if wait {
                guard ContinuousClock.now + .seconds(pause) < deadline else {
                    // Out of time: the calls still waiting answer with the error they had.
                    for index in pending { replies[index] = .error("TRYAGAIN the cluster did not settle within \(configuration.commandTimeout)") }
                    break
                }
                Thread.sleep(forTimeInterval: pause)
                pause = min(pause * 2, 0.25)
            }
        }
        return replies.map { $0 ?? .error("TRYAGAIN the cluster kept redirecting this command") }
    }

    /// The server a call goes to first, connected: the master (the one server, or the one
    /// Sentinel names), or on a cluster its slot's master as last mapped. For
    /// `RedisPipelineInFlight`, which reads the replies itself and sends the rare call that must
    /// go elsewhere (a redirection) through a blocking connection of its own.
    func route(_ call: Call) throws(RedisError) -> RedisNode {
        switch configuration.deployment {
        case .server, .sentinel:
            return try masterNode()
        case .cluster:
            if slotsStale || slots == nil { try refreshSlots() }
            guard let slots, let address = call.slot.flatMap(slots.master(of:)) ?? slots.masters.first else {
                throw RedisError(.server, "CLUSTERDOWN no master serves slot \(call.slot ?? 0)")
            }
            let node = node(address)
            try node.connect()
            return node
        }
    }

    /// Marks the slot map to be read again before the next call (a call was redirected).
    func slotsMoved() {
        slotsStale = true
    }

    /// Drops connections whose replies will not be read (a call failed halfway): they would
    /// answer the next call with this one's replies. The slot map is read again too.
    private func abandon(_ nodes: [RedisNode]) {
        for node in nodes { node.disconnect() }
        slotsStale = true
    }

    private func node(_ address: RedisAddress) -> RedisNode {
        if let node = nodes[address] { return node }
        let node = RedisNode(configuration.node(address))
        nodes[address] = node
        return node
    }

    // MARK: - A cluster's slot map

    /// Reads the slot map from the first node that answers: those of the last map, then the
    /// seeds. Connections to nodes no longer in the map are closed.
    private func refreshSlots() throws(RedisError) {
        guard case .cluster(let seeds) = configuration.deployment else { return }
        var candidates: [RedisAddress] = []
        for address in (slots?.masters ?? []) + seeds where !candidates.contains(address) { candidates.append(address) }
        var problems: [String] = []
        for address in candidates {
            do {
                let map = try SlotMap(clusterSlots: try node(address).send(["CLUSTER", "SLOTS"]), askedAt: address)
                guard map.assigned > 0 else {
                    problems.append("\(address): serves no slot")
                    continue
                }
                slots = map
                slotsStale = false
                for (address, node) in nodes where !map.masters.contains(address) {
                    node.disconnect()
                    nodes[address] = nil
                }
                return
            } catch {
                problems.append(error.message)
            }
        }
        throw RedisError(.connection, "no node of the cluster told its slots: " + problems.joined(separator: "; "))
    }

    private func sendToEveryMaster(_ arguments: [any RedisArgument], name: String) throws(RedisError) -> RedisReply {
        if slotsStale || slots == nil { try refreshSlots() }
        var replies: [RedisReply] = []
        for address in slots?.masters ?? [] { replies.append(try node(address).send(arguments)) }
        switch name {
        case "DBSIZE": return .integer(replies.reduce(0) { $0 + ($1.int ?? 0) })
        case "KEYS": return .array(replies.flatMap { $0.array ?? [] })
        default: return replies.first ?? .null
        }
    }

    // MARK: - One server, or Sentinel's master

    /// The connected master: the one server, or the one Sentinel names (asked again whenever
    /// the last connection broke, or the watch heard of a switch to another), once it says
    /// ROLE master.
    private func masterNode() throws(RedisError) -> RedisNode {
        if let master, master.isConnected {
            guard switchedFrom(master) != nil else { return master }
            master.disconnect()
            self.master = nil
        }
        switch configuration.deployment {
        case .server, .cluster:
            let node = node(configuration.address)
            try node.connect()
            master = node
            return node
        case .sentinel(let addresses, let name):
            let watch = watch ?? SentinelWatch.shared(.init(sentinels: addresses, master: name), configuration: configuration)
            self.watch = watch
            // Loaded before asking: a switch announced meanwhile is followed on the next call.
            epochSeen = watch.epoch
            let node = try sentinelMaster(addresses, name: name)
            master = node
            return node
        }
    }

    /// Where the watch has heard Sentinel switched the master to, when that is not `node`;
    /// nil while `node` is still the master (one atomic load, while nothing changed).
    private func switchedFrom(_ node: RedisNode) -> RedisAddress? {
        guard let watch, watch.epoch != epochSeen else { return nil }
        let (epoch, announced) = watch.announced
        guard let announced, announced != node.address else {
            epochSeen = epoch
            return nil
        }
        return announced
    }

    /// Connects to the master the Sentinels name: the first Sentinel's answer that is reached
    /// and says ROLE master (a Sentinel not yet told of a failover may name the old master).
    private func sentinelMaster(_ addresses: [RedisAddress], name: String) throws(RedisError) -> RedisNode {
        var problems: [String] = []
        var tried: Set<RedisAddress> = []
        for sentinelAddress in addresses {
            let sentinel: RedisNode
            if let known = sentinels[sentinelAddress] {
                sentinel = known
            } else {
                sentinel = RedisNode(configuration.sentinel(sentinelAddress))
                sentinels[sentinelAddress] = sentinel
            }
            let address: RedisAddress
            do {
                guard let named = masterAddress(try sentinel.send(["SENTINEL", "get-master-addr-by-name", name])) else {
                    problems.append("\(sentinelAddress): knows no master '\(name)'")
                    continue
                }
                address = named
            } catch {
                problems.append(error.message)
                continue
            }
            guard tried.insert(address).inserted else { continue }
            let node = node(address)
            do {
                try node.connect()
                let role = try node.send(["ROLE"])
                guard role.array?.first?.string == "master" else {
                    node.disconnect()
                    problems.append("\(address), which \(sentinelAddress) names master '\(name)', is not a master (ROLE says \(role.array?.first?.string ?? "nothing"))")
                    continue
                }
                return node
            } catch {
                node.disconnect()
                problems.append(error.message)
            }
        }
        throw RedisError(.connection, "no Sentinel named a master '\(name)' that answers as one: " + problems.joined(separator: "; "))
    }
}

/// What a cluster's error reply asks of the client.
enum Redirection {
    case moved(RedisAddress)
    case ask(RedisAddress)
    case tryAgain
    case clusterDown
    case noScript
    case none

    init(_ reply: RedisReply) {
        guard case .error(let message) = reply else {
            self = .none
            return
        }
        let words = message.split(separator: " ")
        switch words.first {
        case "MOVED" where words.count >= 3: self = Self.address(words[2]).map(Redirection.moved) ?? .none
        case "ASK" where words.count >= 3: self = Self.address(words[2]).map(Redirection.ask) ?? .none
        case "TRYAGAIN": self = .tryAgain
        case "CLUSTERDOWN": self = .clusterDown
        case "NOSCRIPT": self = .noScript
        default: self = .none
        }
    }

    /// `host:port` (IPv6 hosts are written bare: the last colon splits).
    private static func address(_ text: Substring) -> RedisAddress? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return nil }
        return RedisAddress(host: String(text[..<colon]), port: port)
    }
}

extension RedisReply {
    /// The first word of an error reply (`NOSCRIPT`, `MOVED`, ...); nil for any other reply.
    var errorCode: Substring? {
        guard case .error(let message) = self else { return nil }
        return message.split(separator: " ", maxSplits: 1).first
    }
}
