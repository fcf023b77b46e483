import Foundation
import TallyDomain
import TallyStore
import Testing

/// The layout of each script's KEYS and ARGV, pinned down: the Lua files read them by position.
@Suite struct ScriptCallTests {
    /// 2026-11-29 10:00 UTC.
    static let at: Int64 = 1_795_946_400_000
    /// The day board's expiry: its period ends at 2026-11-30 00:00 UTC (day 20787); then a day's
    /// slack for any time zone and 400 days of retention: day 21188.
    static let dayExpiry = "1830643200"
    /// 400 days, the idempotency records' TTL.
    static let seenTTL = "34560000"

    /// Doors on today's rep board (and the 7-day board it feeds), nothing else.
    static var doorRules: Rules {
        var rules = Rules.default
        rules.metrics = [Metric(name: "doors", weights: ["door_knock": .points(1)])]
        rules.windows = [.today, .rolling7]
        rules.scopes = [.reps]
        return rules
    }

    static let events = [
        ActivityEvent(id: "e1", org: "acme", rep: "ana", repName: "Ana", kind: "door_knock", at: at),
        ActivityEvent(id: "e2", org: "acme", rep: "bo", kind: "door_knock", at: at),
        ActivityEvent(id: "e3", org: "acme", rep: "ana", team: "north", kind: "door_knock", at: at),
    ]

    /// Each event's activity log entry, written out by hand.
    static let logEntries = [
        #"{"id":"e1","rep":"ana","name":"Ana","kind":"door_knock","at":1795946400000,"c":{"m":{"doors":1},"w":{"today":"2026-11-29"}}}"#,
        #"{"id":"e2","rep":"bo","kind":"door_knock","at":1795946400000,"c":{"m":{"doors":1},"w":{"today":"2026-11-29"}}}"#,
        #"{"id":"e3","rep":"ana","team":"north","kind":"door_knock","at":1795946400000,"c":{"m":{"doors":1},"w":{"today":"2026-11-29"},"s":{"reps":"ana"}}}"#,
    ]
    /// A minute after the events; the log keeps 90 days before it.
    static let now: Int64 = 1_795_946_460_000
    static let keepFrom = "1788170460000"

    static let commonKeys = [
        "{acme}:boards", "{acme}:names", "{acme}:teams", "{acme}:seq", "{acme}:activity",
        "{acme}:seen:e1", "{acme}:seen:e2", "{acme}:seen:e3",
        "{acme}:board:doors:today:reps:2026-11-29", "{acme}:reached:doors:today:reps:2026-11-29",
        "{acme}:order:doors:today:reps:2026-11-29",
    ]

    @Test func summedBatch() {
        let plan = ScoringPlan(org: "acme", events: Self.events, rules: Self.doorRules)
        let call = BoardWriter.summedCall(plan, rules: Self.doorRules, now: Self.now)
        #expect(call.keys == Self.commonKeys)
        #expect(call.arguments == [
            Self.seenTTL, "3", String(Self.now), Self.keepFrom] + Self.logEntries + [
            "2", "doors:7d:reps", "doors:today:reps",  // the index: the stored board and the rolling one it feeds
            "1", "ana", "Ana",  // names
            "1", "ana", "north",  // teams
            "1", Self.dayExpiry, "2",  // one board, two members
            "ana", "2.0", "3",  // ana: 2 doors, last touched by the 3rd event
            "bo", "1.0", "2",
        ])
    }

    @Test func logEntriesOfABatchOverTwoDays() {
        var rules = Self.doorRules
        rules.windows = [.today, .week, .month]
        // Sunday 2026-11-29 (week 48), Monday 2026-11-30 (week 49), then Sunday again.
        let events = [
            ActivityEvent(id: "s1", org: "acme", rep: "ana", kind: "door_knock", at: Self.at),
            ActivityEvent(id: "m1", org: "acme", rep: "bo", kind: "door_knock", at: Self.at + 86_400_000),
            ActivityEvent(id: "s2", org: "acme", rep: "ana", kind: "door_knock", at: Self.at + 60_000),
        ]
        let plan = ScoringPlan(org: "acme", events: events, rules: rules)
        let entries = Array(BoardWriter.summedCall(plan, rules: rules, now: Self.now).arguments[4..<7])
        #expect(entries == [
            #"{"id":"s1","rep":"ana","kind":"door_knock","at":1795946400000,"c":{"m":{"doors":1},"w":{"month":"2026-11","today":"2026-11-29","week":"2026-W48"}}}"#,
            #"{"id":"m1","rep":"bo","kind":"door_knock","at":1796032800000,"c":{"m":{"doors":1},"w":{"month":"2026-11","today":"2026-11-30","week":"2026-W49"}}}"#,
            #"{"id":"s2","rep":"ana","kind":"door_knock","at":1795946460000,"c":{"m":{"doors":1},"w":{"month":"2026-11","today":"2026-11-29","week":"2026-W48"}}}"#,
        ])
        // An org without a log: no entries, and nothing to keep.
        rules.logDays = 0
        let quiet = BoardWriter.summedCall(ScoringPlan(org: "acme", events: events, rules: rules), rules: rules, now: Self.now)
        #expect(Array(quiet.arguments[3..<7]) == ["", "", "", ""])
    }

    @Test func eventByEventBatchWithARace() throws {
        let definition = Data("""
            {"id": "race", "name": "Race", "metric": "doors", "goal": 2,
             "starts_at": "2026-11-29T00:00:00Z", "ends_at": "2026-11-30T00:00:00Z"}
            """.utf8)
        let contest = try ContestDefinition.decode(definition).validated(rules: Self.doorRules)
        let plan = ScoringPlan(
            org: "acme", events: Self.events, rules: Self.doorRules,
            contests: [.init(contest: contest, finishedAt: nil)], now: Self.at)
        let call = BoardWriter.eventByEventCall(plan, rules: Self.doorRules, now: Self.now)
        #expect(call.keys == Self.commonKeys + [
            "{acme}:board:contest:race", "{acme}:reached:contest:race", "{acme}:order:contest:race", "{acme}:contest-finish:race",
        ])
        // The same entries, each with what it added to the race.
        let raceEntries = [
            #"{"id":"e1","rep":"ana","name":"Ana","kind":"door_knock","at":1795946400000,"c":{"m":{"doors":1},"w":{"today":"2026-11-29"},"x":[{"c":"race","s":"ana","a":1}]}}"#,
            #"{"id":"e2","rep":"bo","kind":"door_knock","at":1795946400000,"c":{"m":{"doors":1},"w":{"today":"2026-11-29"},"x":[{"c":"race","s":"bo","a":1}]}}"#,
            #"{"id":"e3","rep":"ana","team":"north","kind":"door_knock","at":1795946400000,"c":{"m":{"doors":1},"w":{"today":"2026-11-29"},"s":{"reps":"ana"},"x":[{"c":"race","s":"ana","a":1}]}}"#,
        ]
        #expect(call.arguments == [
            Self.seenTTL, String(Self.now), "3", Self.keepFrom] + raceEntries + [
            "3", "contest:race", "doors:7d:reps", "doors:today:reps",
            "2", Self.dayExpiry, "", "0", "2.0",  // the day board; the race (kept, goal 2)
            "ana", "Ana", "", "2", "1", "ana", "1.0", "2", "ana", "1.0",
            "bo", "", "", "2", "1", "bo", "1.0", "2", "bo", "1.0",
            "ana", "", "north", "2", "1", "ana", "1.0", "2", "ana", "1.0",
        ])
    }

    @Test func readOfACalendarBoard() throws {
        let target = try #require(try BoardTarget.metric(org: "acme", board: "points:week:reps", period: "2026-W48", rules: .default))
        let call = target.call(mode: "page", 0, 10, member: "")
        #expect(call.keys == [
            "{acme}:board:points:week:reps:2026-W48", "{acme}:order:points:week:reps:2026-W48",
            "{acme}:reached:points:week:reps:2026-W48", "{acme}:names", "{acme}:targets:points:week:reps:2026-W48", "{acme}:seq",
        ])
        // `t`: each entry carries its member's target in the week, where it has a quota.
        #expect(call.arguments == ["page", "0", "10", "", "0", "1", "1", "t", ""])
    }

    @Test func readOfAnAttainmentBoard() throws {
        let target = try #require(try BoardTarget.metric(org: "acme", board: "attainment:revenue:month:teams", period: "2026-12", rules: .default))
        let call = target.call(mode: "rank", 0, 0, member: "north")
        // Ranked by its own sorted set (score ÷ target); `a`: each entry carries the target and
        // the metric board's score too. A team board has no names.
        #expect(call.keys == [
            "{acme}:board:attainment:revenue:month:teams:2026-12", "{acme}:order:attainment:revenue:month:teams:2026-12",
            "{acme}:reached:attainment:revenue:month:teams:2026-12", "{acme}:targets:revenue:month:teams:2026-12",
            "{acme}:board:revenue:month:teams:2026-12", "{acme}:seq",
        ])
        #expect(call.arguments == ["rank", "0", "0", "north", "0", "1", "0", "a", ""])
        // Quotas are for calendar windows only: no attainment board of all time or a rolling window.
        for board in ["attainment:revenue:all:reps", "attainment:revenue:7d:reps", "attainment:nope:month:reps"] {
            #expect(throws: StoreError.self) { try BoardTarget.metric(org: "acme", board: board, period: nil, rules: .default) }
        }
    }

    @Test func readOfARollingTeamBoard() throws {
        let target = try #require(try BoardTarget.metric(org: "acme", board: "points:7d:teams", period: "2026-11-29", rules: .default))
        let call = target.call(mode: "rank", 0, 0, member: "north")
        let days = ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28", "2026-11-29"]
        // The rolling board itself is not stored (its days are summed as it is read); no names
        // hash: a team board's members are shown by their ids.
        #expect(call.keys == ["{acme}:board:points:7d:teams:2026-11-29", "{acme}:order:points:7d:teams:2026-11-29"]
            + days.map { "{acme}:board:points:today:teams:\($0)" } + days.map { "{acme}:reached:points:today:teams:\($0)" }
            + ["{acme}:seq"])
        #expect(call.arguments == ["rank", "0", "0", "north", "7", "7", "0", "", ""])
    }

    @Test func readOfAContestBoard() throws {
        let definition = Data("""
            {"id": "blitz", "name": "Blitz", "metric": "doors", "scope": "teams",
             "starts_at": "2026-11-29T00:00:00Z", "ends_at": "2026-11-30T00:00:00Z"}
            """.utf8)
        let contest = try ContestDefinition.decode(definition).validated(rules: .default)
        let call = BoardTarget(org: "acme", contest: contest).call(mode: "around", 5, 0, member: "north")
        #expect(call.keys == ["{acme}:board:contest:blitz", "{acme}:order:contest:blitz", "{acme}:reached:contest:blitz", "{acme}:seq"])
        #expect(call.arguments == ["around", "5", "0", "north", "0", "1", "0", "", ""])
    }

    @Test func badBoardsAndPeriodsAreRefusedByField() {
        #expect(throws: StoreError.notFound("board: unknown board 'points:fortnight:reps' (boards are <metric>:<window>:<scope>, e.g. points:today:reps, or attainment:<metric>:<window>:<scope>)")) {
            try BoardTarget.metric(org: "acme", board: "points:fortnight:reps", period: nil, rules: .default)
        }
        #expect(throws: StoreError.invalid("org: must be 1 to 64 characters of a-z, 0-9 and -")) {
            try BoardTarget.metric(org: "a}b", board: "points:today:reps", period: nil, rules: .default)
        }
        #expect(throws: StoreError.self) {
            try BoardTarget.metric(org: "acme", board: "points:month:reps", period: "2026-W48", rules: .default)
        }
    }

    @Test func keysCarryTheOrgHashTag() {
        let keys = Keys(org: "acme")
        #expect(keys.board("points:today:reps", period: "2026-11-29") == "{acme}:board:points:today:reps:2026-11-29")
        #expect(keys.board("contest:blitz", period: "") == "{acme}:board:contest:blitz")
        #expect(keys.seen("e1") == "{acme}:seen:e1")
        #expect(keys.contestFinish("race") == "{acme}:contest-finish:race")
    }
}
