import Foundation
import Redis
import TallyDomain
import TallyStore

/// The contest operations: created once, listed, shown with standings and winners, ended
/// early or cancelled. What is stored is `ContestStore`'s; a contest's state is always worked
/// out from its stored times, so a restarted leaderboard sees the same state.
struct ContestBook: Sendable {
    let reader: BoardReader
    var store: ContestStore { ContestStore(redis: reader.redis) }

    func create(org: String, definition: Data) async throws -> ContestView {
        let contest: Contest
        do {
            contest = try ContestDefinition.decode(definition).validated(rules: reader.rules.rules(for: org))
        } catch {
            throw OperationError(.badRequest, error.description)
        }
        guard try await store.create(contest, org: org) else {
            throw OperationError(.conflict, "id: a contest \(contest.id.quoted) already exists in org \(org.quoted)")
        }
        return try await view(contest, org: org, finish: nil, standings: false)
    }

    func get(org: String, id: String) async throws -> ContestView {
        let contest = try await store.contest(org: org, id: id)
        let finish = try await store.finishes([contest], org: org)[id]
        return try await view(contest, org: org, finish: finish, standings: true)
    }

    func list(org: String, state: String?) async throws -> [ContestView] {
        let contests = try await store.stored(org: org)
        let finishes = try await store.finishes(contests, org: org)
        var views: [ContestView] = []
        for contest in contests {
            let view = try await view(contest, org: org, finish: finishes[contest.id], standings: false)
            if state == nil || view.state == state { views.append(view) }
        }
        return views
    }

    func end(org: String, id: String) async throws -> ContestView {
        try await change(org: org, id: id) { contest, state, now in
            guard state == .running else {
                throw OperationError(.conflict, "contest: \(id.quoted) is \(state.rawValue); only a running contest can be ended")
            }
            contest.endedAt = now
        }
    }

    func cancel(org: String, id: String) async throws -> ContestView {
        try await change(org: org, id: id) { contest, state, now in
            guard state != .final && state != .cancelled else {
                throw OperationError(.conflict, "contest: \(id.quoted) is \(state.rawValue) and cannot be cancelled")
            }
            contest.cancelledAt = now
        }
    }

    private func change(
        org: String, id: String, _ body: (inout Contest, Contest.State, Int64) throws -> Void
    ) async throws -> ContestView {
        var contest = try await store.contest(org: org, id: id)
        let now = Timestamp.now()
        let finish = try await store.finishes([contest], org: org)[id]
        try body(&contest, contest.state(at: now, finishedAt: finish?.at), now)
        try await store.save(contest, org: org)
        return try await view(contest, org: org, finish: finish, standings: true)
    }

    /// The contest as clients see it: definition, state, standings, winners once decided.
    func view(
        _ contest: Contest, org: String, finish: ContestStore.Finish?, standings withStandings: Bool, now: Int64 = Timestamp.now()
    ) async throws -> ContestView {
        let state = contest.state(at: now, finishedAt: finish?.at)
        var standings: EntryList?
        var winners: [Entry]?
        if withStandings || state == .final || finish != nil {
            let top = try await reader.top(BoardTarget(org: org, contest: contest), offset: 0, limit: 100)
            if withStandings { standings = top }
            if let finish {
                winners = top.entries.filter { $0.member == finish.winner }
            } else if state == .final {
                winners = top.entries.filter { $0.rank == 1 }
            }
        }
        return ContestView(contest: contest, state: state.rawValue, standings: standings, winners: winners)
    }
}

/// A contest as answered: the definition's fields as the organizer wrote them, plus state,
/// standings and winners.
package struct ContestView: Encodable, Sendable {
    let contest: Contest
    let state: String
    let standings: EntryList?
    let winners: [Entry]?

    enum Key: String, CodingKey {
        case id, name, metric, weights, scope, participants, starts_at, ends_at, goal, grace_seconds, prizes
        case description, state, ended_at, cancelled_at, standings, winners
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(contest.id, forKey: .id)
        try c.encode(contest.name, forKey: .name)
        try c.encodeIfPresent(contest.metric, forKey: .metric)
        try c.encodeIfPresent(contest.weights, forKey: .weights)
        try c.encode(contest.scope, forKey: .scope)
        try c.encodeIfPresent(contest.participants, forKey: .participants)
        try c.encode(Timestamp.format(contest.startsAt), forKey: .starts_at)
        try c.encode(Timestamp.format(contest.endsAt), forKey: .ends_at)
        try c.encodeIfPresent(contest.goal, forKey: .goal)
        try c.encode(contest.graceSeconds, forKey: .grace_seconds)
        try c.encode(contest.prizes, forKey: .prizes)
        try c.encodeIfPresent(contest.description, forKey: .description)
        try c.encode(state, forKey: .state)
        try c.encodeIfPresent(contest.endedAt.map(Timestamp.format), forKey: .ended_at)
        try c.encodeIfPresent(contest.cancelledAt.map(Timestamp.format), forKey: .cancelled_at)
        try c.encodeIfPresent(standings, forKey: .standings)
        try c.encodeIfPresent(winners, forKey: .winners)
    }
}

package struct ContestList: Encodable, Sendable {
    let org: String
    let contests: [ContestView]
}
