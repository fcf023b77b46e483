import Foundation
import Redis
import TallyDomain
import TallyChanges
import TallyService
import TallyStore

/// Scores one job: checks each event against its org's rules, applies each org's plan, and
/// says what to tell the field apps and the displays.
struct BatchScorer {
    let rules: RulesBook
    let contests: ContestCache

    struct Outcome {
        var statuses: [EventStatus]
        var notices: [ChangeNotice]
    }

    /// Scores the job in a bounded number of round trips however many orgs it spans: the
    /// orgs' contests are read together, and their plans applied together.
    func score(_ events: [ActivityEvent], now: Int64, redis: RedisConnection) throws -> Outcome {
        var statuses = events.map { EventStatus(id: $0.id, status: .accepted) }
        var byOrg: [String: [Int]] = [:]
        var orgOrder: [String] = []
        for (index, event) in events.enumerated() {
            if byOrg[event.org] == nil { orgOrder.append(event.org) }
            byOrg[event.org, default: []].append(index)
        }
        var validByOrg: [(org: String, rules: Rules, valid: [Int])] = []
        for org in orgOrder {
            let rules = rules.rules(for: org)
            var valid: [Int] = []
            for index in byOrg[org]! {
                if let rejection = check(events[index], rules: rules, now: now) {
                    statuses[index] = EventStatus(id: events[index].id, status: .rejected, error: rejection.description)
                } else {
                    valid.append(index)
                }
            }
            if !valid.isEmpty { validByOrg.append((org, rules, valid)) }
        }
        let inPlay = try contests.inPlay(orgs: validByOrg.map(\.org), now: now, redis: redis)
        let plans = validByOrg.map { org, rules, valid in
            (plan: ScoringPlan(org: org, events: valid.map { events[$0] }, rules: rules, contests: inPlay[org] ?? [], now: now), rules: rules)
        }
        let applied = try BoardWriter.apply(plans, now: now, on: redis)
        var notices: [ChangeNotice] = []
        for ((_, rules, valid), (plan, applied)) in zip(validByOrg, zip(plans.map(\.plan), applied)) {
            for (position, index) in valid.enumerated() where !applied.counted[position] {
                statuses[index].status = .duplicate
            }
            if let notice = Self.notice(plan, applied: applied, rules: rules, now: now) {
                notices.append(notice)
            }
        }
        return Outcome(statuses: statuses, notices: notices)
    }

    /// The rules only the org's own settings can check.
    private func check(_ event: ActivityEvent, rules: Rules, now: Int64) -> EventRejection? {
        if !rules.kinds.contains(event.kind) {
            return EventRejection("kind", "unknown activity kind \(event.kind.quoted)")
        }
        if event.at < now - rules.retentionMilliseconds {
            return EventRejection("at", "is older than the retention of \(rules.retentionDays) days")
        }
        return nil
    }

    /// The boards that changed, the deals won and the milestones crossed, among the counted events.
    static func notice(_ plan: ScoringPlan, applied: BoardWriter.Applied, rules: Rules, now: Int64) -> ChangeNotice? {
        let counted = applied.counted
        var changed = Set<Int>()
        var deals: [ChangeNotice.Deal] = []
        var activity: [ChangeNotice.Activity] = []
        for (entry, wasCounted) in zip(plan.entries, counted) where wasCounted {
            for increment in entry.increments { changed.insert(increment.board) }
            let event = entry.event
            if event.kind == "deal_won" {
                deals.append(ChangeNotice.Deal(
                    rep: event.rep, name: event.repName, team: event.team,
                    value: event.value, at: Timestamp.format(event.at)))
            }
            if rules.feedKinds.contains(event.kind) {
                activity.append(ChangeNotice.Activity(
                    id: event.id, rep: event.rep, name: event.repName, team: event.team, kind: event.kind,
                    value: event.value, at: Timestamp.format(event.at)))
            }
        }
        guard !changed.isEmpty || !activity.isEmpty || !applied.attainment.written.isEmpty else { return nil }
        var changes: [ChangeNotice.BoardChange] = []
        let today = LocalDate(milliseconds: now, in: rules.timeZone)
        for index in changed.sorted() {
            let board = plan.boards[index]
            changes.append(.init(board: board.name, period: board.period))
            // A change to a recent day moves the rolling boards that end today.
            guard let boardID = board.id, boardID.window == .today, let day = LocalDate(label: board.period) else { continue }
            for window in rules.windows where window.isRolling {
                let age = today.daysSinceEpoch - day.daysSinceEpoch
                guard age >= 0, age < window.rollingDays! else { continue }
                let id = BoardID(metric: boardID.metric, window: window, scope: boardID.scope)
                changes.append(.init(board: id.description, period: today.label))
            }
        }
        for written in applied.attainment.written { changes.append(.init(board: written.board, period: written.period)) }
        let milestones = applied.attainment.crossings.map {
            ChangeNotice.Milestone(board: $0.board, period: $0.period, member: $0.member, attainment: $0.attainment, milestone: $0.milestone)
        }
        return ChangeNotice(
            org: plan.org, boards: changes, deals: deals, activity: activity.isEmpty ? nil : activity,
            milestones: milestones.isEmpty ? nil : milestones)
    }
}
