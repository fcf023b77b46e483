import Foundation
import Redis
import TallyDomain
import TallyStore

/// The contests that may still count events, per org, read from Redis at most once a second
/// so that a new, ended or cancelled contest takes effect within a second.
final class ContestCache {
    private var byOrg: [String: (readAt: Int64, contests: [ScoringPlan.ContestInPlay])] = [:]
    private let maxAge: Int64 = 1_000

    func inPlay(org: String, now: Int64, redis: RedisConnection) throws -> [ScoringPlan.ContestInPlay] {
        if let cached = byOrg[org], now - cached.readAt < maxAge { return cached.contests }
        let stored = try ContestStore.stored(org: org, on: redis)
        let finishes = try ContestStore.finishes(stored.filter { $0.cancelledAt == nil }, org: org, on: redis)
        let contests = stored.compactMap { contest -> ScoringPlan.ContestInPlay? in
            let finished = finishes[contest.id]?.at
            let state = contest.state(at: now, finishedAt: finished)
            // Scheduled contests are kept: an event may arrive just as one starts.
            guard state != .cancelled && state != .final else { return nil }
            return ScoringPlan.ContestInPlay(contest: contest, finishedAt: finished)
        }
        byOrg[org] = (now, contests)
        return contests
    }
}
