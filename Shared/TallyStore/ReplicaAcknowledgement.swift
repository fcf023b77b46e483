import Redis

/// "Accepted" is a promise: where a master has replicas, a batch counts as stored only once
/// one of them has it too (`WAIT 1`), so a failover loses nothing acknowledged. On a cluster,
/// each master the connection has written to is asked. Whether there are replicas to wait for
/// is asked (`ROLE`) at most once a second.
package final class ReplicaAcknowledgement {
    /// How long `WAIT` may take, in milliseconds.
    private let timeout: Int64
    private var checkedAt: Int64?
    /// The masters that have replicas, as last asked.
    private var replicated: Set<RedisAddress> = []

    package init(timeoutMilliseconds: Int64) {
        self.timeout = max(1, timeoutMilliseconds)
    }

    /// Whether what `redis` has written so far is on a replica, or there is none to wait for.
    /// `now` in milliseconds.
    package func confirm(on redis: RedisConnection, now: Int64) throws -> Bool {
        if checkedAt.map({ now - $0 >= 1_000 }) ?? true {
            replicated = []
            for (master, reply) in try redis.sendToConnectedMasters(["ROLE"]) {
                let role = reply.array ?? []
                let replicas = role.first?.string == "master" ? (role.count > 2 ? role[2].array?.count ?? 0 : 0) : 0
                if replicas > 0 { replicated.insert(master) }
            }
            checkedAt = now
        }
        guard !replicated.isEmpty else { return true }
        for (master, reply) in try redis.sendToConnectedMasters(["WAIT", "1", String(timeout)]) where replicated.contains(master) {
            if (reply.int ?? 0) < 1 { return false }
        }
        return true
    }
}
