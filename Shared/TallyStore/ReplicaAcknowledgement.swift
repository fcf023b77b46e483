import Redis

/// "Accepted" is a promise: where a master has replicas, a batch counts as stored only once
/// one of them has it too (`WAIT 1`), so a failover loses nothing acknowledged. On a cluster,
/// each master the connection has written to is asked. Whether there are replicas to wait for
/// is asked (`ROLE`) at most once a second, and at once of a master not asked before (the one
/// a failover promoted). A server written to that no longer says it is a master has been
/// demoted by a failover: what it took may be lost with it, so the batch is not confirmed and
/// its connection dropped (the next call asks again where the master is).
///
/// Without replicas it still makes one more round trip (`PING`) before the batch is answered:
/// Redis writes the invalidations of what the batch changed (to the leaderboards' version
/// watches, `RedisKeyWatch`) in the same turn of its loop as the batch's reply, just after it,
/// and a reply from a later turn means they have left. So a read made after the acknowledgement
/// never answers from a version the batch moved. (`ROLE` and `WAIT` are such round trips too.)
package final class ReplicaAcknowledgement {
    /// How long `WAIT` may take, in milliseconds.
    private let timeout: Int64
    private var checkedAt: Int64?
    /// The masters asked at `checkedAt`, and those of them that have replicas.
    private var checked: Set<RedisAddress> = []
    private var replicated: Set<RedisAddress> = []

    package init(timeoutMilliseconds: Int64) {
        self.timeout = max(1, timeoutMilliseconds)
    }

    /// Whether what `redis` has written so far is on a replica, or there is none to wait for.
    /// `now` in milliseconds.
    package func confirm(on redis: RedisConnection, now: Int64) throws -> Bool {
        // A batch that went to two servers in turn (Sentinel switched in the middle of it, or
        // between a script's NOSCRIPT and its retry): what the first took may be lost with it.
        if redis.takeWrittenMasters().count > 1 { return false }
        var askedSince = false
        if checkedAt.map({ now - $0 >= 1_000 }) ?? true || !Set(redis.connectedMasters).isSubset(of: checked) {
            checkedAt = nil
            checked = []
            replicated = []
            for (master, reply) in try redis.sendToConnectedMasters(["ROLE"]) {
                let role = reply.array ?? []
                guard role.first?.string == "master" else {
                    redis.drop(master)
                    return false
                }
                checked.insert(master)
                if role.count > 2, (role[2].array?.count ?? 0) > 0 { replicated.insert(master) }
            }
            checkedAt = now
            askedSince = true
        }
        guard !replicated.isEmpty else {
            if !askedSince { _ = try redis.sendToConnectedMasters(["PING"]) }
            return true
        }
        for (master, reply) in try redis.sendToConnectedMasters(["WAIT", "1", String(timeout)]) where replicated.contains(master) {
            if (reply.int ?? 0) < 1 { return false }
        }
        return true
    }
}
