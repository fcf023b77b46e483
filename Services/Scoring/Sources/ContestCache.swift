import Foundation
import Redis
import TallyDomain

/// The contests that may still count events, per org, read from Redis at most once a second
/// so that a new, ended or cancelled contest takes effect within a second.
final class ContestCache {
    private var byOrg: [String: (readAt: Int64, contests: [ScoringPlan.ContestInPlay])] = [:]
    private let decoder = JSONDecoder()
    private let maxAge: Int64 = 1_000

    func inPlay(org: String, now: Int64, redis: RedisConnection) throws -> [ScoringPlan.ContestInPlay] {
        if let cached = byOrg[org], now - cached.readAt < maxAge { return cached.contests }
        let keys = Keys(org: org)
        let stored = (try redis.send("HVALS", keys.contests).array ?? []).compactMap { reply -> Contest? in
            guard case .bulk(let data) = reply else { return nil }
            return try? decoder.decode(Contest.self, from: data)
        }
        let races = stored.filter { $0.goal != nil && $0.cancelledAt == nil }
        let finishes = try redis.pipeline(races.map { ["HGET", keys.contestFinish($0.id), "at"] })
        var finishedAt: [String: Int64] = [:]
        for (race, reply) in zip(races, finishes) { finishedAt[race.id] = reply.int }
        let contests = stored.compactMap { contest -> ScoringPlan.ContestInPlay? in
            let finished = finishedAt[contest.id]
            let state = contest.state(at: now, finishedAt: finished)
            // Scheduled contests are kept: an event may arrive just as one starts.
            guard state != .cancelled && state != .final else { return nil }
            return ScoringPlan.ContestInPlay(contest: contest, finishedAt: finished)
        }
        byOrg[org] = (now, contests)
        return contests
    }
}
