import Foundation
import Logging
import Redis
import ServiceLifecycle
import TallyChanges
import TallyDomain
import TallyService
import TallyStore
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

    /// `publisher` is the leaderboard's PUB socket to notification (`makePublisher`); the
    /// scheduler runs it, and corrections' notices go out on it too.
    init(book: ContestBook, publisher: AsyncSocket, logger: Logger) {
        self.publisher = publisher
        self.book = book
        self.logger = logger
    }

    /// The PUB socket connected to every notify endpoint.
    static func makePublisher(notify: [String], serviceKey: ServiceKey?, logger: Logger) throws -> AsyncSocket {
        let pub = try Socket(.pub, options: [.sendHighWaterMark(10_000), .linger(milliseconds: 500)] + (serviceKey?.clientOptions ?? []))
        for endpoint in notify { try pub.connect(endpoint) }
        return AsyncSocket(pub, errors: { what, error in
            logger.warning("announcements to notification: \(what) failed", metadata: ["notify": "\(notify)", "error": "\(error)"])
        })
    }

    func run() async throws {
        async let io: Void = publisher.run()
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
        await io
    }

    /// One pass over every org with contests.
    func tick(now: Int64 = Timestamp.now()) async throws {
        let store = book.store
        for org in try await store.orgs() {
            let last = try await store.announced(org: org)
            let contests = try await store.stored(org: org)
            let finishes = try await store.finishes(contests, org: org)
            for contest in contests {
                let finish = finishes[contest.id]
                let state = contest.state(at: now, finishedAt: finish?.at).rawValue
                guard last[contest.id] != state else { continue }
                let view = try await book.view(contest, org: org, finish: finish, standings: false, now: now)
                let message = ContestAnnouncement(
                    org: org, contest: contest.id, name: contest.name, state: state, board: contest.boardID,
                    startsAt: contest.startsAt, endsAt: contest.end(finishedAt: finish?.at), winners: view.winners)
                publisher.send(try ChangeMessage.contest(message).frames())
                try await store.markAnnounced(org: org, contest: contest.id, state: state)
                logger.info("contest state", metadata: ["org": "\(org)", "contest": "\(contest.id)", "state": "\(state)"])
            }
        }
    }
}
