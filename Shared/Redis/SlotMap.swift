/// Which master of a Redis Cluster serves each slot, as `CLUSTER SLOTS` tells it.
struct SlotMap: Sendable, Equatable {
    /// Every master that serves a slot, in the order of their first range.
    private(set) var masters: [RedisAddress] = []
    /// Per slot, its master's index in `masters`; `unassigned` for a slot nobody serves.
    private var owners = [UInt16](repeating: SlotMap.unassigned, count: HashSlot.count)
    private static let unassigned = UInt16.max

    /// Reads a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, ...], replica...], ...]`.
    /// An empty host means the node that was asked (`askedAt`).
    init(clusterSlots reply: RedisReply, askedAt: RedisAddress) throws(RedisError) {
        guard let ranges = reply.array else { throw RedisError(.server, "CLUSTER SLOTS answered \(reply)") }
        for range in ranges {
            guard let items = range.array, items.count >= 3, let start = items[0].int, let end = items[1].int,
                let node = items[2].array, node.count >= 2, let host = node[0].string, let port = node[1].int,
                (0..<Int64(HashSlot.count)).contains(start), (start..<Int64(HashSlot.count)).contains(end)
            else { throw RedisError(.server, "CLUSTER SLOTS answered a range that does not read: \(range)") }
            let address = RedisAddress(host: host.isEmpty || host == "?" ? askedAt.host : host, port: Int(port))
            let index: Int
            if let known = masters.firstIndex(of: address) {
                index = known
            } else {
                index = masters.count
                masters.append(address)
            }
            for slot in Int(start)...Int(end) { owners[slot] = UInt16(index) }
        }
    }

    /// The master serving `slot`; nil when no master does.
    func master(of slot: Int) -> RedisAddress? {
        let owner = owners[slot]
        return owner == Self.unassigned ? nil : masters[Int(owner)]
    }

    /// How many slots have a master.
    var assigned: Int { owners.count { $0 != Self.unassigned } }
}
