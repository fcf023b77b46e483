import Foundation
import TallyChanges
import TallyStore
import Logging
import ServiceLifecycle
import Synchronization
import TallyDomain
import TallyService
import ZeroMQ

/// The SUB socket scoring and leaderboard publish to: change notices (`{"type": "changes"}`:
/// boards that moved, deals won) and contest announcements (`{"type": "contest"}`). Boards
/// become dirty in the hub; deals and contest transitions go out on the org's `_events`.
struct ChangeFeed: Service {
    let socket: AsyncSocket
    let hub: Hub
    /// Where announcements find the names of reps whose events carried none.
    let directory: RepDirectory
    let metrics: NotificationMetrics
    let logger: Logger
    private let contestStates = ContestStates()

    init(
        endpoint: String, serviceKey: ServiceKey?, maxMessageSize: Int64, hub: Hub, directory: RepDirectory, metrics: NotificationMetrics,
        logger: Logger
    ) throws {
        let sub = try Socket(.sub, options: [.subscribe(Data()), .maxMessageSize(maxMessageSize), .receiveHighWaterMark(100_000)] + (serviceKey?.serverOptions ?? []))
        try sub.bind(endpoint)
        socket = AsyncSocket(sub, errors: { what, error in
            logger.warning("change feed: \(what) failed", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
        })
        self.hub = hub
        self.directory = directory
        self.metrics = metrics
        self.logger = logger
    }

    var endpoint: String { socket.lastEndpoint }

    func run() async throws {
        async let io: Void = socket.run()
        for await frames in socket.messages.cancelOnGracefulShutdown() {
            guard frames.count == 2 else {
                logger.warning("change feed: ignored a message of \(frames.count) frames (expected org, JSON)")
                continue
            }
            metrics.notices.increment()
            await handle(org: String(decoding: frames[0], as: UTF8.self), json: frames[1])
        }
        await socket.close()
        await io
    }

    func handle(org: String, json: Data) async {
        switch ChangeMessage(json: json) {
        case .changes(let notice):
            logger.trace("change notice", metadata: ["org": "\(notice.org)", "boards": "\(notice.boards.count)", "deals": "\(notice.deals.count)"])
            await hub.changed(org: notice.org, boards: Set(notice.boards.map(\.board)))
            let names = await self.names(notice)
            let org = notice.org
            func name(_ rep: String, _ carried: String?) -> String { carried ?? names[rep] ?? rep }
            // A correction comes later: the directory may have renamed the rep since, and the
            // boards show the directory's name.
            func current(_ rep: String, _ carried: String?) -> String { names[rep] ?? carried ?? rep }
            var messages: [any Encodable] = []
            for deal in notice.deals {
                messages.append(DealMessage(org: org, rep: deal.rep, name: name(deal.rep, deal.name), team: deal.team, value: deal.value, at: deal.at))
            }
            for item in notice.activity ?? [] {
                messages.append(ActivityMessage(
                    org: org, id: item.id, rep: item.rep, name: name(item.rep, item.name), team: item.team, kind: item.kind,
                    value: item.value, at: item.at))
            }
            for correction in notice.corrections ?? [] {
                let amended = correction.event.map { event in
                    CorrectionMessage.Amended(
                        rep: event.rep, name: current(event.rep, event.name), team: event.team, kind: event.kind, value: event.value,
                        at: event.at, feed: correction.feed ?? false)
                }
                messages.append(CorrectionMessage(
                    org: org, id: correction.id, rep: correction.rep, name: current(correction.rep, correction.name), status: correction.status,
                    event: amended))
            }
            for milestone in notice.milestones ?? [] {
                // A team's board names the team by its id, as the board does.
                let team = BoardID(attainment: milestone.board)?.scope == .teams
                messages.append(MilestoneMessage(
                    org: org, board: milestone.board, period: milestone.period, member: milestone.member,
                    name: team ? milestone.member : current(milestone.member, nil), attainment: milestone.attainment,
                    milestone: milestone.milestone))
            }
            for message in messages {
                if let data = try? JSONEncoder().encode(message) { await hub.event(org: org, json: data) }
            }
        case .contest(let contest) where Org.isValid(contest.org):
            // Each state of a contest once: a scheduler that took over from one that died
            // between sending a state and storing it as sent sends it again.
            guard contestStates.isNew(contest) else {
                logger.debug("contest state heard again, not passed on", metadata: ["org": "\(contest.org)", "contest": "\(contest.contest)", "state": "\(contest.state)"])
                return
            }
            // Re-encoded, so displays get only the fields the protocol names; the contest's
            // board has its final standings.
            guard let data = try? JSONEncoder().encode(contest) else { return }
            await hub.event(org: contest.org, json: data)
            await hub.changed(org: contest.org, boards: [contest.board])
        case .contest, nil:
            logger.warning("change feed: ignored a message that is neither a change notice nor a contest announcement", metadata: ["org": "\(org)"])
        }
    }

    /// The directory's names of the reps a notice announces without a name of their own, and of
    /// every corrected one: an announcement names people as the boards do, with the rep id only
    /// as the last fallback.
    private func names(_ notice: ChangeNotice) async -> [String: String] {
        var reps = Set<String>()
        for deal in notice.deals where deal.name == nil { reps.insert(deal.rep) }
        for item in notice.activity ?? [] where item.name == nil { reps.insert(item.rep) }
        for correction in notice.corrections ?? [] {
            reps.insert(correction.rep)
            if let event = correction.event { reps.insert(event.rep) }
        }
        for milestone in notice.milestones ?? [] where BoardID(attainment: milestone.board)?.scope == .reps { reps.insert(milestone.member) }
        guard !reps.isEmpty, Org.isValid(notice.org) else { return [:] }
        let ordered = reps.sorted()
        do {
            var names: [String: String] = [:]
            for (rep, name) in zip(ordered, try await directory.names(org: notice.org, reps: ordered)) { names[rep] = name }
            return names
        } catch {
            logger.warning("announcements named by rep id: the directory could not be read", metadata: ["org": "\(notice.org)", "error": "\(error)"])
            return [:]
        }
    }
}

/// The last state passed on for each contest, so that each is passed on once and never one
/// that comes before it (a scheduler whose lease ran out during a slow pass may send "ended"
/// after its successor sent "final"): a contest's states only move forward, scheduled, running,
/// ended, then final or cancelled. Bounded: past `capacity` contests it starts again empty
/// (at worst one state heard twice is passed on twice).
final class ContestStates: Sendable {
    private let states = Mutex<[String: String]>([:])
    let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    private static let order = ["scheduled": 0, "running": 1, "ended": 2, "final": 3, "cancelled": 3]

    /// Whether `announcement`'s state is new for its contest and not behind the last one passed
    /// on; if so, it is the last one from now on.
    func isNew(_ announcement: ContestAnnouncement) -> Bool {
        let key = "\(announcement.org)\u{0}\(announcement.contest)"
        return states.withLock { states in
            if let last = states[key] {
                if last == announcement.state { return false }
                if let was = Self.order[last], let now = Self.order[announcement.state], now <= was { return false }
            }
            if states.count >= capacity { states.removeAll() }
            states[key] = announcement.state
            return true
        }
    }
}
