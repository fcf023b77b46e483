import Redis

/// "Accepted" is a promise: where the master has replicas, a batch counts as stored only once
/// one of them has it too (`WAIT 1`), so a failover loses nothing acknowledged. Whether there
/// are replicas to wait for is asked (`ROLE`) at most once a second.
package final class ReplicaAcknowledgement {
    /// How long `WAIT` may take, in milliseconds.
    private let timeout: Int64
    private var checkedAt: Int64?
    private var replicas = 0

    package init(timeoutMilliseconds: Int64) {
        self.timeout = max(1, timeoutMilliseconds)
    }

    /// Whether what `redis` has written so far is on a replica, or there is none to wait for.
    /// `now` in milliseconds.
    package func confirm(on redis: RedisConnection, now: Int64) throws -> Bool {
        if checkedAt.map({ now - $0 >= 1_000 }) ?? true {
            let role = try redis.send("ROLE").array ?? []
            replicas = role.first?.string == "master" ? (role.count > 2 ? role[2].array?.count ?? 0 : 0) : 0
            checkedAt = now
        }
        guard replicas > 0 else { return true }
        return (try redis.send("WAIT", "1", String(timeout)).int ?? 0) >= 1
    }
}
