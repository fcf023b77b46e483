import Foundation
import Logging
import Redis
import ServiceLifecycle
import TallyDomain
import ZeroMQ

/// Watches every org's contests and announces each change of state (scheduled, running,
/// ended, final with the winners, cancelled) on the org's `_events` channel via the notify
/// endpoints. States follow from stored times; the last state announced is stored too, so a
/// restarted leaderboard announces only what changed while it was away.
struct ContestScheduler: Service {
    let book: ContestBook
    let publisher: AsyncSocket
    let logger: Logger
    var interval: Duration = .milliseconds(250)

    init(book: ContestBook, notify: [String], logger: Logger) throws {
        let pub = try Socket(.pub, options: [.sendHighWaterMark(10_000), .linger(milliseconds: 500)])
        for endpoint in notify { try pub.connect(endpoint) }
        self.publisher = AsyncSocket(pub)
        self.book = book
        self.logger = logger
    }

    func run() async throws {
        // A publisher drops what it sends before a subscriber's subscription reaches it: give
        // the notify connections a moment before the first announcement.
        try? await Task.sleep(for: .milliseconds(500))
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await tick()
            } catch {
                logger.warning("contest check failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
        await publisher.close()
    }

    /// One pass over every org with contests.
    func tick(now: Int64 = Timestamp.now()) async throws {
        let orgs = try await book.redis.send(["SMEMBERS", Keys.contestOrgs]).array?.compactMap(\.string) ?? []
        for org in orgs {
            let keys = Keys(org: org)
            let announced = try await book.redis.send(["HGETALL", keys.contestsAnnounced]).array?.compactMap(\.string) ?? []
            var last: [String: String] = [:]
            for pair in stride(from: 0, to: announced.count - 1, by: 2) { last[announced[pair]] = announced[pair + 1] }
            let contests = try await book.stored(org: org)
            let finishes = try await book.finishes(contests, org: org)
            for contest in contests {
                let finish = finishes[contest.id]
                let state = contest.state(at: now, finishedAt: finish?.at).rawValue
                guard last[contest.id] != state else { continue }
                let view = try await book.view(contest, org: org, finish: finish, standings: false, now: now)
                let message = ContestAnnouncement(
                    org: org, contest: contest.id, name: contest.name, state: state, board: contest.boardID,
                    startsAt: contest.startsAt, endsAt: contest.end(finishedAt: finish?.at), winners: view.winners)
                publisher.send([Data(org.utf8), try JSONEncoder().encode(message)])
                _ = try await book.redis.send(["HSET", keys.contestsAnnounced, contest.id, state])
                logger.info("contest state", metadata: ["org": "\(org)", "contest": "\(contest.id)", "state": "\(state)"])
            }
        }
    }
}

/// `{"type": "contest", ...}` on an org's `_events` channel: a contest's change of state (the
/// leaderboard's scheduler announces it, tally-notification passes it on), or with `replay`,
/// a contest's current state told to a display that has just connected.
package struct ContestAnnouncement: Codable, Sendable {
    package var type = "contest"
    package let org: String
    package let contest: String
    package let name: String
    package let state: String
    /// The contest's board, `contest:<id>`.
    package let board: String
    package let startsAt: Int64
    /// When counting stops (or stopped): the end, an early end, or a race's finish.
    package let endsAt: Int64
    package let winners: [Entry]?
    package var replay: Bool?

    package init(
        org: String, contest: String, name: String, state: String, board: String, startsAt: Int64, endsAt: Int64,
        winners: [Entry]?, replay: Bool? = nil
    ) {
        self.org = org
        self.contest = contest
        self.name = name
        self.state = state
        self.board = board
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.winners = winners
        self.replay = replay
    }

    enum CodingKeys: String, CodingKey {
        case type, org, contest, name, state, board, startsAt = "starts_at_ms", endsAt = "ends_at_ms", winners, replay
    }
}
