import Foundation
import Redis
import TallyDomain
import TallyStore

/// The contests that may still count events, per org, read from Redis at most once a second
/// so that a new, ended or cancelled contest takes effect within a second. The orgs of a job
/// are read together, in two round trips however many there are; entries older than a
/// second are dropped once there are many, so orgs that come and go cost no memory.
final class ContestCache {
    private var byOrg: [String: (readAt: Int64, contests: [ScoringPlan.ContestInPlay])] = [:]
    private let maxAge: Int64 = 1_000
    /// How many orgs are kept before stale entries are dropped.
    private let keep = 1_024

    func inPlay(orgs: [String], now: Int64, redis: RedisConnection) throws -> [String: [ScoringPlan.ContestInPlay]] {
        let stale = orgs.filter { org in byOrg[org].map { now - $0.readAt >= maxAge } ?? true }
        if !stale.isEmpty {
            if byOrg.count + stale.count > keep { byOrg = byOrg.filter { now - $0.value.readAt < maxAge } }
            let stored = try ContestStore.stored(orgs: stale, on: redis)
            let finishes = try ContestStore.finishes(stored.mapValues { $0.filter { $0.cancelledAt == nil } }, on: redis)
            for org in stale {
                let contests = (stored[org] ?? []).compactMap { contest -> ScoringPlan.ContestInPlay? in
                    let finished = finishes[org]?[contest.id]?.at
                    let state = contest.state(at: now, finishedAt: finished)
                    // Scheduled contests are kept: an event may arrive just as one starts.
                    guard state != .cancelled && state != .final else { return nil }
                    return ScoringPlan.ContestInPlay(contest: contest, finishedAt: finished)
                }
                byOrg[org] = (now, contests)
            }
        }
        return Dictionary(uniqueKeysWithValues: orgs.map { ($0, byOrg[$0]?.contests ?? []) })
    }
}
