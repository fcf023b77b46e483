import Foundation
import Redis
import TallyDomain
import TallyStore
import TallyTesting
import Testing

/// The activity log and corrections against a real redis-server: what a retraction and an
/// amendment leave on every board, that they are idempotent and safe against races, and the
/// log read page by page. Expected scores are worked out by hand from the rules below.
@Suite struct CorrectionStoreTests {
    let fixture: StoreFixture
    let reader: BoardReader
    let log: EventLog
    var connection: RedisConnection { fixture.connection }

    /// points: deal_won 50, demo 10; revenue: deal_won × value; windows today, week, all, 7d;
    /// scopes reps and teams.
    static var rules: Rules {
        var rules = Rules.default
        rules.metrics = [
            Metric(name: "points", weights: ["deal_won": .points(50), "demo": .points(10)]),
            Metric(name: "revenue", weights: ["deal_won": .value]),
        ]
        rules.windows = [.today, .week, .all, .rolling7]
        rules.scopes = [.reps, .teams]
        return rules
    }

    static let day = ScriptCallTests.at  // 2026-11-29 10:00 UTC, a Sunday: week 2026-W48
    static let yesterday = day - 86_400_000

    init() throws {
        fixture = try StoreFixture()
        reader = BoardReader(redis: fixture.client, rules: RulesBook(["acme": Self.rules]))
        log = EventLog(redis: fixture.client)
    }

    static let d1 = ActivityEvent(id: "d1", org: "acme", rep: "ana", repName: "Ana", team: "north", kind: "deal_won", value: 1000, at: day)
    static let m1 = ActivityEvent(id: "m1", org: "acme", rep: "bo", team: "south", kind: "demo", at: day)
    static let m2 = ActivityEvent(id: "m2", org: "acme", rep: "cy", team: "north", kind: "demo", at: day)
    static let y1 = ActivityEvent(id: "y1", org: "acme", rep: "ana", team: "north", kind: "demo", at: yesterday)

    @discardableResult
    func apply(_ events: [ActivityEvent], contests: [Contest] = [], now: Int64 = day) throws -> [Bool] {
        let plan = ScoringPlan(
            org: "acme", events: events, rules: Self.rules, contests: contests.map { .init(contest: $0, finishedAt: nil) }, now: now)
        return try BoardWriter.apply(plan, rules: Self.rules, now: now, on: connection)
    }

    /// The floor: ana's deal (1000) and bo's and cy's demos today, ana's demo yesterday.
    func floor(contests: [Contest] = []) throws {
        try apply([Self.d1, Self.m1, Self.m2], contests: contests)
        try apply([Self.y1], contests: contests)
    }

    /// A board page as "member=score", in rank order.
    func lines(_ board: String, period: String) async throws -> [String] {
        let target = try #require(try reader.metricTarget(org: "acme", board: board, period: period))
        return try await reader.top(target, offset: 0, limit: 20).entries.map { "\($0.member)=\(Int($0.score))" }
    }

    func contestLines(_ id: String) async throws -> [String] {
        let contest = try await ContestStore(redis: fixture.client).contest(org: "acme", id: id)
        return try await reader.top(BoardTarget(org: "acme", contest: contest), offset: 0, limit: 20).entries.map { "\($0.member)=\(Int($0.score))" }
    }

    /// Every board the floor writes, as lines, for "nothing changed" comparisons.
    func everything() async throws -> [[String]] {
        var all: [[String]] = []
        for metric in ["points", "revenue"] {
            for scope in ["reps", "teams"] {
                for (window, period) in [("today", "2026-11-29"), ("today", "2026-11-28"), ("week", "2026-W48"), ("all", "all"), ("7d", "2026-11-29")] {
                    all.append(try await lines("\(metric):\(window):\(scope)", period: period))
                }
            }
        }
        return all
    }

    @Test func aRetractedDealLeavesEveryWindowAndScopeAndTheOthersKeepTheirOrder() async throws {
        try floor()
        #expect(try await lines("points:today:reps", period: "2026-11-29") == ["ana=50", "bo=10", "cy=10"])
        #expect(try await lines("points:week:reps", period: "2026-W48") == ["ana=60", "bo=10", "cy=10"])

        let retracted = try await log.retract(org: "acme", id: "d1", by: "admin", rules: Self.rules)
        #expect(retracted.status == "retracted")
        // Today: ana's only event today is gone, so is ana; bo still reached 10 before cy.
        #expect(try await lines("points:today:reps", period: "2026-11-29") == ["bo=10", "cy=10"])
        #expect(try await lines("revenue:today:reps", period: "2026-11-29") == [])
        // The week and all time keep ana's demo of yesterday (10); ana reached 10 again just
        // now, so after bo and cy, whose order is untouched.
        #expect(try await lines("points:week:reps", period: "2026-W48") == ["bo=10", "cy=10", "ana=10"])
        #expect(try await lines("points:all:reps", period: "all") == ["bo=10", "cy=10", "ana=10"])
        #expect(try await lines("revenue:all:reps", period: "all") == [])
        // ana's team at the time: north had 50 + 10 (cy) today, now 10; south 10 got there first.
        #expect(try await lines("points:today:teams", period: "2026-11-29") == ["south=10", "north=10"])
        #expect(try await lines("revenue:today:teams", period: "2026-11-29") == [])
        #expect(try await lines("points:week:teams", period: "2026-W48") == ["north=20", "south=10"])
        // The rolling week sums the days: ana 10 (yesterday), bo 10, cy 10.
        #expect(Set(try await lines("points:7d:reps", period: "2026-11-29")) == ["ana=10", "bo=10", "cy=10"])
        // Yesterday is untouched.
        #expect(try await lines("points:today:reps", period: "2026-11-28") == ["ana=10"])
    }

    @Test func aPastPeriodsEventIsTakenBackFromItsOwnPeriodOnly() async throws {
        try floor()
        _ = try await log.retract(org: "acme", id: "y1", by: "admin", rules: Self.rules)
        #expect(try await lines("points:today:reps", period: "2026-11-28") == [])
        #expect(try await lines("points:today:teams", period: "2026-11-28") == [])
        #expect(try await lines("points:today:reps", period: "2026-11-29") == ["ana=50", "bo=10", "cy=10"])
        #expect(try await lines("points:week:reps", period: "2026-W48") == ["ana=50", "bo=10", "cy=10"])
        #expect(try await lines("points:today:teams", period: "2026-11-29") == ["north=60", "south=10"])
    }

    @Test func retractingTwiceChangesNothingAndTheIdStaysSeen() async throws {
        try floor()
        let first = try await log.retract(org: "acme", id: "d1", by: "admin", rules: Self.rules)
        let boards = try await everything()
        let sequence = try connection.send("GET", "{acme}:seq").int
        let logLength = try connection.send("XLEN", "{acme}:activity").int
        let second = try await log.retract(org: "acme", id: "d1", by: "admin", rules: Self.rules)
        #expect(second == first)
        #expect(try await everything() == boards)
        #expect(try connection.send("GET", "{acme}:seq").int == sequence)
        #expect(try connection.send("XLEN", "{acme}:activity").int == logLength)
        // A field app that sends it again: duplicate, and nothing moves.
        #expect(try apply([Self.d1]) == [false])
        #expect(try apply([Self.d1, Self.m1]) == [false, false])
        #expect(try await everything() == boards)
        // Unknown: nothing to correct.
        await #expect(throws: EventLog.Refusal.notFound("id: no event 'nope' in the activity log of org 'acme'")) {
            try await log.retract(org: "acme", id: "nope", by: "admin", rules: Self.rules)
        }
        #expect(try await log.record(org: "acme", id: "nope") == nil)
    }

    @Test func aCorrectionMovesTheSequenceThatCachesCheck() async throws {
        try floor()
        let before = try #require(try connection.send("GET", "{acme}:seq").int)
        _ = try await log.amend(org: "acme", id: "m1", changes: .init(value: 3), by: "admin", rules: Self.rules)  // a demo's value counts for nothing
        _ = try await log.retract(org: "acme", id: "m2", by: "admin", rules: Self.rules)
        #expect(try #require(try connection.send("GET", "{acme}:seq").int) == before + 2)
    }

    @Test func anAmendmentReplacesTheOldContributionByTheNew() async throws {
        try floor()
        // The deal was di's, of team south, and 200, not 1000.
        let amended = try await log.amend(
            org: "acme", id: "d1", changes: .init(value: 200, rep: "di", team: "south"), by: "token:t1", rules: Self.rules)
        #expect(amended.status == "amended")
        #expect(amended.event.rep == "di" && amended.event.team == "south" && amended.event.value == 200)
        #expect(amended.name == "di")  // the name the event carried was ana's
        #expect(amended.history.map(\.status) == ["accepted", "amended"])
        #expect(amended.history.last?.by == "token:t1")
        #expect(amended.history.last?.changes == ["value", "rep", "team"])
        #expect(try await lines("points:today:reps", period: "2026-11-29") == ["di=50", "bo=10", "cy=10"])
        #expect(try await lines("revenue:today:reps", period: "2026-11-29") == ["di=200"])
        #expect(try await lines("points:week:reps", period: "2026-W48") == ["di=50", "bo=10", "cy=10", "ana=10"])
        // north: cy 10 today; south: bo 10 + di 50.
        #expect(try await lines("points:today:teams", period: "2026-11-29") == ["south=60", "north=10"])
        #expect(try await lines("revenue:today:teams", period: "2026-11-29") == ["south=200"])

        // Now the kind: bo's demo was a deal of 300 (50 points).
        let kind = try await log.amend(org: "acme", id: "m1", changes: .init(value: 300, kind: "deal_won"), by: "admin", rules: Self.rules)
        #expect(kind.event.kind == "deal_won")
        #expect(try await lines("points:today:reps", period: "2026-11-29") == ["di=50", "bo=50", "cy=10"])
        #expect(try await lines("revenue:today:reps", period: "2026-11-29") == ["bo=300", "di=200"])
        #expect(try await lines("revenue:today:teams", period: "2026-11-29") == ["south=500"])

        // Amended again, it takes back the amended contribution, not the original one.
        _ = try await log.amend(org: "acme", id: "d1", changes: .init(value: 100), by: "admin", rules: Self.rules)
        #expect(try await lines("revenue:today:reps", period: "2026-11-29") == ["bo=300", "di=100"])
        // And retracted, it is gone from di.
        _ = try await log.retract(org: "acme", id: "d1", by: "admin", rules: Self.rules)
        #expect(try await lines("points:today:reps", period: "2026-11-29") == ["bo=50", "cy=10"])
        #expect(try await lines("revenue:today:teams", period: "2026-11-29") == ["south=300"])
        let record = try #require(try await log.record(org: "acme", id: "d1"))
        #expect(record.history.map(\.status) == ["accepted", "amended", "amended", "retracted"])
        // A retracted event is not amended.
        await #expect(throws: EventLog.Refusal.conflict("id: event 'd1' is retracted and cannot be amended")) {
            try await log.amend(org: "acme", id: "d1", changes: .init(value: 5), by: "admin", rules: Self.rules)
        }
    }

    @Test func theOriginalContributionIsTakenBackEvenAfterTheRulesChanged() async throws {
        try floor()
        // Deals are now worth 80 points and the week board is gone from the rules.
        var changed = Self.rules
        changed.metrics = [Metric(name: "points", weights: ["deal_won": .points(80), "demo": .points(10)])]
        changed.windows = [.today, .all]
        _ = try await log.retract(org: "acme", id: "d1", by: "admin", rules: changed)
        #expect(try await lines("points:week:reps", period: "2026-W48") == ["bo=10", "cy=10", "ana=10"])
        #expect(try await lines("revenue:all:reps", period: "all") == [])
        #expect(try await lines("points:all:reps", period: "all") == ["bo=10", "cy=10", "ana=10"])
    }

    @Test func twoCorrectionsOfOneEventRacingTakeItBackOnce() async throws {
        try floor()
        let log = self.log
        async let a = log.retract(org: "acme", id: "d1", by: "admin", rules: Self.rules)
        async let b = log.retract(org: "acme", id: "d1", by: "admin", rules: Self.rules)
        async let c = log.amend(org: "acme", id: "m2", changes: .init(value: 7), by: "admin", rules: Self.rules)
        async let d = log.amend(org: "acme", id: "m2", changes: .init(kind: "deal_won"), by: "admin", rules: Self.rules)
        let (first, second) = try await (a, b)
        #expect(first.status == "retracted" && second.status == "retracted")
        _ = try await (c, d)
        // d1 taken back once: ana keeps yesterday's 10 in the week (twice would be -40).
        #expect(try await lines("points:week:reps", period: "2026-W48").contains("ana=10"))
        // m2 amended twice, in some order; either way it ends a deal of value 7 (50 points, 7 revenue)
        // and cy is counted once.
        let record = try #require(try await log.record(org: "acme", id: "m2"))
        #expect(record.event.kind == "deal_won" && record.event.value == 7)
        #expect(try await lines("points:today:reps", period: "2026-11-29") == ["cy=50", "bo=10"])
        #expect(try await lines("revenue:today:reps", period: "2026-11-29") == ["cy=7"])
    }

    @Test func aCorrectionRacingAResendOfItsBatchLeavesTheBoardsExact() async throws {
        try floor()
        let server = fixture.server
        // The resend goes on its own connection and thread while the retraction runs.
        let resend = Task.detached { () throws -> [Bool] in
            let connection = server.connection()
            var answers: [Bool] = []
            for _ in 0..<20 {
                let plan = ScoringPlan(org: "acme", events: [Self.d1, Self.m1], rules: Self.rules, now: Self.day)
                answers += try BoardWriter.apply(plan, rules: Self.rules, now: Self.day, on: connection)
            }
            return answers
        }
        _ = try await log.retract(org: "acme", id: "d1", by: "admin", rules: Self.rules)
        #expect(try await resend.value.allSatisfy { !$0 })
        #expect(try await lines("points:today:reps", period: "2026-11-29") == ["bo=10", "cy=10"])
        #expect(try await lines("points:week:reps", period: "2026-W48") == ["bo=10", "cy=10", "ana=10"])
    }

    static func contest(_ json: String) throws -> Contest {
        try ContestDefinition.decode(Data(json.utf8)).validated(rules: rules)
    }

    @Test func aRunningContestLosesTheEventAndAFinalOneStaysFrozen() async throws {
        // Both count the morning of 2026-11-29; "morning" ended at noon that day (final now),
        // "december" runs until 2099.
        let morning = try Self.contest("""
            {"id": "morning", "name": "Morning", "metric": "points",
             "starts_at": "2026-11-29T00:00:00Z", "ends_at": "2026-11-29T12:00:00Z"}
            """)
        let running = try Self.contest("""
            {"id": "running", "name": "Running", "metric": "revenue",
             "starts_at": "2026-11-29T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}
            """)
        let store = ContestStore(redis: fixture.client)
        #expect(try await store.create(morning, org: "acme"))
        #expect(try await store.create(running, org: "acme"))
        try floor(contests: [morning, running])
        #expect(try await contestLines("morning") == ["ana=50", "bo=10", "cy=10"])
        #expect(try await contestLines("running") == ["ana=1000"])

        _ = try await log.retract(org: "acme", id: "d1", by: "admin", rules: Self.rules)
        #expect(try await contestLines("morning") == ["ana=50", "bo=10", "cy=10"])
        #expect(try await contestLines("running") == [])
        // An amendment adds to the running contest as the event would have (it arrived in time).
        _ = try await log.amend(org: "acme", id: "m1", changes: .init(value: 40, kind: "deal_won"), by: "admin", rules: Self.rules)
        #expect(try await contestLines("running") == ["bo=40"])
        #expect(try await contestLines("morning") == ["ana=50", "bo=10", "cy=10"])
    }

    @Test func theActivityLogReadsNewestFirstPageByPageWithFilters() async throws {
        try floor()
        // Logged in the order scored: d1, m1, m2, then y1.
        let first = try await log.activity(org: "acme", before: nil, limit: 2, rep: nil, kind: nil)
        #expect(first.records.map(\.event.id) == ["y1", "m2"])
        let second = try await log.activity(org: "acme", before: try #require(first.next), limit: 2, rep: nil, kind: nil)
        #expect(second.records.map(\.event.id) == ["m1", "d1"])
        let third = try await log.activity(org: "acme", before: try #require(second.next), limit: 2, rep: nil, kind: nil)
        #expect(third.records.isEmpty && third.next == nil)

        #expect(try await log.activity(org: "acme", before: nil, limit: 50, rep: "ana", kind: nil).records.map(\.event.id) == ["y1", "d1"])
        #expect(try await log.activity(org: "acme", before: nil, limit: 50, rep: nil, kind: "demo").records.map(\.event.id) == ["y1", "m2", "m1"])
        #expect(try await log.activity(org: "acme", before: nil, limit: 1, rep: nil, kind: "demo").next != nil)

        // Corrections show in the event's own place, as it now is; filters see it as it now is.
        _ = try await log.amend(org: "acme", id: "d1", changes: .init(rep: "di"), by: "admin", rules: Self.rules)
        _ = try await log.retract(org: "acme", id: "m1", by: "admin", rules: Self.rules)
        let all = try await log.activity(org: "acme", before: nil, limit: 50, rep: nil, kind: nil).records
        #expect(all.map(\.event.id) == ["y1", "m2", "m1", "d1"])
        #expect(all.map(\.status) == ["accepted", "accepted", "retracted", "amended"])
        #expect(try await log.activity(org: "acme", before: nil, limit: 50, rep: "ana", kind: nil).records.map(\.event.id) == ["y1"])
        #expect(try await log.activity(org: "acme", before: nil, limit: 50, rep: "di", kind: nil).records.map(\.event.id) == ["d1"])

        // The record of the deal as accepted: its fields, its received time (the scoring's now).
        let record = try #require(try await log.record(org: "acme", id: "d1"))
        #expect(record.receivedAt == Self.day)
        #expect(record.history.first == EventLog.Step(status: "accepted", receivedAt: Timestamp.format(Self.day)))
    }

    @Test func theLogIsTrimmedByLogDays() async throws {
        var rules = Self.rules
        rules.logDays = 1
        // 150 events scored 3 days ago, then 150 scored now. The trim (XTRIM MINID ~) frees
        // whole nodes of the stream (at most 100 entries or 4 KiB each, Redis's defaults): the
        // nodes that are all old go; the one that holds the last old and the first new entries
        // stays until it is all old.
        let then = Self.day - 3 * 86_400_000
        let old = (0..<150).map { ActivityEvent(id: "o\($0)", org: "acme", rep: "ana", kind: "demo", at: then) }
        _ = try BoardWriter.apply(ScoringPlan(org: "acme", events: old, rules: rules), rules: rules, now: then, on: connection)
        let recent = (0..<150).map { ActivityEvent(id: "r\($0)", org: "acme", rep: "bo", kind: "demo", at: Self.day) }
        _ = try BoardWriter.apply(ScoringPlan(org: "acme", events: recent, rules: rules), rules: rules, now: Self.day, on: connection)
        #expect(try await log.record(org: "acme", id: "o0") == nil)
        #expect(try await log.record(org: "acme", id: "r0") != nil)
        let length = try #require(try connection.send("XLEN", "{acme}:activity").int)
        #expect(length >= 150 && length < 200, "\(length) entries kept")
        #expect(try await log.activity(org: "acme", before: nil, limit: 200, rep: "bo", kind: nil).records.count == 150)
        // Its id is still seen: sent again, it is a duplicate.
        #expect(try BoardWriter.apply(ScoringPlan(org: "acme", events: [old[0]], rules: rules), rules: rules, now: Self.day, on: connection) == [false])
    }

    /// An org whose rules turn the log off (`log_days: 0`) keeps none from its next batch on:
    /// the log it had is removed, not left in Redis for ever untrimmed.
    @Test func anOrgThatTurnsItsLogOffHasTheOldLogRemoved() async throws {
        var off = Self.rules
        off.logDays = 0
        // On both scripts: a batch of new events (summed), and one with a duplicate (event by event).
        for (round, batch) in [[Self.d1, Self.m1], [Self.m1, Self.m2]].enumerated() {
            _ = try connection.send("DEL", "{acme}:activity")
            let before = ActivityEvent(id: "before\(round)", org: "acme", rep: "ana", kind: "demo", at: Self.day)
            _ = try BoardWriter.apply(ScoringPlan(org: "acme", events: [before], rules: Self.rules), rules: Self.rules, now: Self.day, on: connection)
            #expect(try connection.send("XLEN", "{acme}:activity").int == 1)
            _ = try BoardWriter.apply(ScoringPlan(org: "acme", events: batch, rules: off), rules: off, now: Self.day, on: connection)
            #expect(try connection.send("EXISTS", "{acme}:activity").int == 0, "round \(round)")
        }
        // The boards counted every event all the same: ana's deal and demos, bo's and cy's demos.
        #expect(try await lines("points:today:reps", period: "2026-11-29") == ["ana=70", "bo=10", "cy=10"])
    }

    @Test func anOrgWithLogDaysZeroKeepsNoLogAndCountsTheSame() async throws {
        var rules = Self.rules
        rules.logDays = 0
        // Summed (one batch), then event by event (a batch with a duplicate in it).
        let summed = try BoardWriter.apply(ScoringPlan(org: "acme", events: [Self.d1, Self.m1], rules: rules), rules: rules, now: Self.day, on: connection)
        #expect(summed == [true, true])
        let mixed = try BoardWriter.apply(ScoringPlan(org: "acme", events: [Self.m1, Self.m2], rules: rules), rules: rules, now: Self.day, on: connection)
        #expect(mixed == [false, true])
        // The boards count as with a log: ana's deal 50 points, bo's and cy's demos 10 each.
        #expect(try await lines("points:today:reps", period: "2026-11-29") == ["ana=50", "bo=10", "cy=10"])
        #expect(try await lines("revenue:all:reps", period: "all") == ["ana=1000"])
        // No log: no stream at all, nothing to get or list, and a correction is refused.
        #expect(try connection.send("EXISTS", "{acme}:activity").int == 0)
        #expect(try await log.record(org: "acme", id: "d1") == nil)
        #expect(try await log.activity(org: "acme", before: nil, limit: 50, rep: nil, kind: nil).records.isEmpty)
        await #expect(throws: EventLog.Refusal.self) {
            _ = try await log.retract(org: "acme", id: "d1", by: "admin", rules: rules)
        }
        #expect(try await lines("points:today:reps", period: "2026-11-29") == ["ana=50", "bo=10", "cy=10"])
        // The ids are still seen: sent again, they are duplicates.
        #expect(try BoardWriter.apply(ScoringPlan(org: "acme", events: [Self.d1], rules: rules), rules: rules, now: Self.day, on: connection) == [false])
    }
}
