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
///
/// Of several leaderboards on one Redis, only the holder of the scheduler's lease
/// (`SchedulerLease`) makes the passes; another takes over within the lease's time when the
/// holder dies. A state is stored as announced after it is sent, so a holder that dies between
/// the two has the next one send it again; notification passes on each state of a contest
/// once (`ChangeFeed`), so displays see it once either way.
struct ContestScheduler: Service {
    let book: ContestBook
    let publisher: AsyncSocket
    let lease: SchedulerLease
    let logger: Logger
    var interval: Duration = .milliseconds(250)

    /// `publisher` is the leaderboard's PUB socket to notification (`makePublisher`); the
    /// scheduler runs it, and corrections' notices go out on it too.
    init(book: ContestBook, publisher: AsyncSocket, lease: Duration = SchedulerLease.defaultDuration, logger: Logger) {
        self.publisher = publisher
        self.book = book
        self.lease = SchedulerLease(redis: book.store.redis, duration: lease)
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
        var holding = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let held = try await lease.hold()
                if held != holding {
                    logger.info(held ? "holding the contest scheduler's lease" : "lost the contest scheduler's lease", metadata: ["holder": "\(lease.holder)"])
                    holding = held
                }
                if held { try await tick() }
            } catch {
                logger.warning("contest check failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
        // Let another leaderboard take over at once rather than after the lease runs out.
        if holding { try? await lease.release() }
        await publisher.close()
        await io
    }

    /// One pass over every org with contests. An org that cannot be read (its shard down, a key
    /// broken) waits for the next pass and the others go on; the first failure is thrown at the end.
    func tick(now: Int64 = Timestamp.now()) async throws {
        var failure: (any Error)?
        for org in try await book.store.orgs() {
            do {
                try await tick(org: org, now: now)
            } catch {
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
    }

    private func tick(org: String, now: Int64) async throws {
        let store = book.store
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

/// Which of the leaderboards sharing a Redis runs the contest scheduler: the one whose id is in
/// `tally:contest-scheduler`. The holder renews it on every pass; when it stops renewing (it
/// died, or cannot reach Redis), the key expires after `duration` and the next leaderboard to
/// ask takes it. One key and single-key scripts, so it works on a cluster too.
struct SchedulerLease: Sendable {
    static let key = "tally:contest-scheduler"
    static let defaultDuration: Duration = .seconds(3)

    let redis: RedisClient
    let duration: Duration
    /// This process: host, pid and a random part, so that a restarted one is a new holder.
    let holder = "\(ProcessInfo.processInfo.hostName)/\(getpid())/\(UInt32.random(in: 0...UInt32.max))"

    /// Renews the lease if this process holds it, takes it if nobody does; whether it is held.
    func hold() async throws -> Bool {
        let reply = try await redis.pipeline(Self.acquire, calls: [([Self.key], [holder, String(duration.milliseconds)])])
        if case .error(let message) = reply.first { throw RedisError(.server, message) }
        return reply.first?.int == 1
    }

    /// Gives the lease up if this process holds it.
    func release() async throws {
        _ = try await redis.pipeline(Self.giveUp, calls: [([Self.key], [holder])])
    }

    private static let acquire = RedisScript("""
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        if holder then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """)

    private static let giveUp = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
        return 0
        """)
}
