import Foundation
import Redis
import TallyDomain

/// Contests as stored: definitions (JSON in the org's contests hash), races' finishes, the
/// last state announced of each, and the orgs that have contests. A contest's state is never
/// stored: it follows from these, so every reader works out the same state.
///
/// Each read has a blocking form on a `RedisConnection` (for scoring's worker thread) and an
/// async one through a `RedisClient`.
package struct ContestStore: Sendable {
    package let redis: RedisClient

    package init(redis: RedisClient) {
        self.redis = redis
    }

    /// When a race's goal was reached, and by whom.
    package struct Finish: Sendable, Equatable {
        package let at: Int64
        package let winner: String

        package init(at: Int64, winner: String) {
            self.at = at
            self.winner = winner
        }
    }

    /// Stores a new contest; false when the org has one with that id already.
    package func create(_ contest: Contest, org: String) async throws -> Bool {
        let keys = Keys(org: org)
        let json = try Self.json(contest)
        return try await redis.withConnection { connection in
            // Two single-key commands: the org list has no hash tag.
            let replies = try connection.pipeline([["HSETNX", keys.contests, contest.id, json], ["SADD", Keys.contestOrgs, org]])
            for reply in replies { _ = try reply.throwingError() }
            return replies[0].int == 1
        }
    }

    /// Replaces a stored contest's definition (an early end, a cancel).
    package func save(_ contest: Contest, org: String) async throws {
        let json = try Self.json(contest)
        try await redis.send(["HSET", Keys(org: org).contests, contest.id, json])
    }

    /// A stored contest; `notFound` naming the contest otherwise.
    package func contest(org: String, id: String) async throws -> Contest {
        let reply = try await redis.send(["HGET", Keys(org: org).contests, id])
        guard case .bulk(let data) = reply, let contest = try? JSONDecoder().decode(Contest.self, from: data) else {
            throw StoreError.notFound("contest: no contest \(id.quoted) in org \(org.quoted)")
        }
        return contest
    }

    /// Every contest of the org, by start.
    package func stored(org: String) async throws -> [Contest] {
        try await redis.withConnection { try Self.stored(org: org, on: $0) }
    }

    /// Every contest of each org, as `stored(org:on:)` reads one org's: one round trip for all.
    package static func stored(orgs: [String], on connection: RedisConnection) throws -> [String: [Contest]] {
        let decoder = JSONDecoder()
        let replies = try connection.pipeline(orgs.map { ["HVALS", Keys(org: $0).contests] })
        var byOrg: [String: [Contest]] = [:]
        for (org, reply) in zip(orgs, replies) {
            byOrg[org] = (try reply.throwingError().array ?? []).compactMap { reply -> Contest? in
                guard case .bulk(let data) = reply else { return nil }
                return try? decoder.decode(Contest.self, from: data)
            }.sorted { ($0.startsAt, $0.id) < ($1.startsAt, $1.id) }
        }
        return byOrg
    }

    /// The finishes of the races among each org's contests, by org and contest id: one round
    /// trip for all.
    package static func finishes(_ contests: [String: [Contest]], on connection: RedisConnection) throws -> [String: [String: Finish]] {
        let races = contests.flatMap { org, contests in contests.filter { $0.goal != nil }.map { (org, $0.id) } }
        let replies = try connection.pipeline(races.map { ["HMGET", Keys(org: $0.0).contestFinish($0.1), "at", "winner"] })
        var finishes: [String: [String: Finish]] = [:]
        for ((org, id), reply) in zip(races, replies) {
            guard let items = try reply.throwingError().array, items.count == 2, let at = items[0].int, let winner = items[1].string else { continue }
            finishes[org, default: [:]][id] = Finish(at: at, winner: winner)
        }
        return finishes
    }

    /// The finishes of the races among `contests` that have one, by contest id; one round trip.
    package func finishes(_ contests: [Contest], org: String) async throws -> [String: Finish] {
        guard contests.contains(where: { $0.goal != nil }) else { return [:] }
        return try await redis.withConnection { try Self.finishes(contests, org: org, on: $0) }
    }

    /// Contest id → the state last announced to displays.
    package func announced(org: String) async throws -> [String: String] {
        let items = try await redis.send(["HGETALL", Keys(org: org).contestsAnnounced]).array?.compactMap(\.string) ?? []
        var states: [String: String] = [:]
        for pair in stride(from: 0, to: items.count - 1, by: 2) { states[items[pair]] = items[pair + 1] }
        return states
    }

    /// Records that `state` of a contest was announced.
    package func markAnnounced(org: String, contest: String, state: String) async throws {
        try await redis.send(["HSET", Keys(org: org).contestsAnnounced, contest, state])
    }

    /// The orgs that have (or had) contests.
    package func orgs() async throws -> [String] {
        try await redis.send(["SMEMBERS", Keys.contestOrgs]).array?.compactMap(\.string) ?? []
    }

    // MARK: Blocking, on one connection

    /// Every contest of the org, by start; definitions that no longer decode are skipped.
    package static func stored(org: String, on connection: RedisConnection) throws -> [Contest] {
        let decoder = JSONDecoder()
        return (try connection.send("HVALS", Keys(org: org).contests).array ?? []).compactMap { reply -> Contest? in
            guard case .bulk(let data) = reply else { return nil }
            return try? decoder.decode(Contest.self, from: data)
        }.sorted { ($0.startsAt, $0.id) < ($1.startsAt, $1.id) }
    }

    /// The finishes of the races among `contests` that have one, by contest id; one round trip.
    package static func finishes(_ contests: [Contest], org: String, on connection: RedisConnection) throws -> [String: Finish] {
        let races = contests.filter { $0.goal != nil }.map(\.id)
        guard !races.isEmpty else { return [:] }
        let keys = Keys(org: org)
        let replies = try connection.pipeline(races.map { ["HMGET", keys.contestFinish($0), "at", "winner"] })
        var finishes: [String: Finish] = [:]
        for (id, reply) in zip(races, replies) {
            guard let items = reply.array, items.count == 2, let at = items[0].int, let winner = items[1].string else { continue }
            finishes[id] = Finish(at: at, winner: winner)
        }
        return finishes
    }

    private static func json(_ contest: Contest) throws -> String {
        String(decoding: try JSONEncoder().encode(contest), as: UTF8.self)
    }
}
