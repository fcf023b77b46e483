import Redis

/// The org's directory of reps: display names and each rep's latest team. Scoring writes both
/// from events (in its scripts); organizers write them directly.
package struct RepDirectory: Sendable {
    package let redis: RedisClient

    package init(redis: RedisClient) {
        self.redis = redis
    }

    /// Sets a rep's name and team, those that are given; one round trip. A name is part of
    /// every board answer, so it moves the org's version (`Keys.sequence`) too, after it is written.
    package func put(org: String, rep: String, name: String?, team: String?) async throws {
        let keys = Keys(org: org)
        var commands: [[String]] = []
        if let name { commands.append(["HSET", keys.names, rep, name]) }
        if let team { commands.append(["HSET", keys.teams, rep, team]) }
        guard !commands.isEmpty else { return }
        commands.append(["INCR", keys.sequence])
        let written = commands
        try await redis.withConnection { connection in
            for reply in try connection.pipeline(written.map { $0 as [any RedisArgument] }) { _ = try reply.throwingError() }
        }
    }

    /// Each rep's latest team, in order (nil: none known).
    package func teams(org: String, reps: [String]) async throws -> [String?] {
        guard !reps.isEmpty else { return [] }
        let reply = try await redis.send(["HMGET", Keys(org: org).teams] + reps)
        return (reply.array ?? []).map(\.string)
    }

    /// Each rep's name from the directory, in order (nil: none known).
    package func names(org: String, reps: [String]) async throws -> [String?] {
        guard !reps.isEmpty else { return [] }
        let reply = try await redis.send(["HMGET", Keys(org: org).names] + reps)
        return (reply.array ?? []).map(\.string)
    }
}
