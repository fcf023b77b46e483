import Foundation
import Redis
import TallyDomain
import TallyStore
import TallyTesting
import Testing

/// Each script against a real redis-server: what a batch leaves on the boards, duplicates,
/// races, first-reached order among equal scores, rolling sums, contest windows.
/// A redis-server of a test's own, a blocking connection (as scoring's worker has) and a
/// running client (as the leaderboard has), ended with the test.
final class StoreFixture {
    let server: RedisServer
    let connection: RedisConnection
    let client: RedisClient
    private let running: Task<Void, Never>

    init() throws {
        server = try RedisServer()
        connection = server.connection()
        client = RedisClient(server.configuration)
        running = Task { [client] in await client.run() }
    }

    deinit { running.cancel() }
}

@Suite struct StoreTests {
    let fixture: StoreFixture
    let reader: BoardReader
    var connection: RedisConnection { fixture.connection }
    var client: RedisClient { fixture.client }

    init() throws {
        fixture = try StoreFixture()
        reader = BoardReader(redis: fixture.client, rules: RulesBook(["acme": ScriptCallTests.doorRules]))
    }

    static let day = ScriptCallTests.at  // 2026-11-29 10:00 UTC
    static let minute: Int64 = 60_000

    static func knock(_ id: String, _ rep: String, at: Int64 = day, name: String? = nil, team: String? = nil) -> ActivityEvent {
        ActivityEvent(id: id, org: "acme", rep: rep, repName: name, team: team, kind: "door_knock", at: at)
    }

    func apply(_ events: [ActivityEvent], contests: [Contest] = [], now: Int64 = day) throws -> [Bool] {
        let rules = ScriptCallTests.doorRules
        let finishes = try ContestStore.finishes(contests, org: "acme", on: connection)
        let plan = ScoringPlan(
            org: "acme", events: events, rules: rules,
            contests: contests.map { .init(contest: $0, finishedAt: finishes[$0.id]?.at) }, now: now)
        return try BoardWriter.apply(plan, rules: rules, now: now, on: connection)
    }

    func score(_ board: String, _ member: String) throws -> Double? {
        try connection.send("ZSCORE", board, member).double
    }

    func page(_ board: String, period: String? = "2026-11-29", offset: Int = 0, limit: Int = 10) async throws -> [Entry] {
        let target = try #require(try reader.metricTarget(org: "acme", board: board, period: period))
        return try await reader.top(target, offset: offset, limit: limit).entries
    }

    static let dayBoard = "{acme}:board:doors:today:reps:2026-11-29"

    @Test func aBatchCountsEachEventOnceAndKeepsNamesAndTeams() throws {
        let batch = [Self.knock("e1", "ana", name: "Ana"), Self.knock("e2", "bo"), Self.knock("e3", "ana", team: "north")]
        #expect(try apply(batch) == [true, true, true])
        #expect(try score(Self.dayBoard, "ana") == 2)
        #expect(try score(Self.dayBoard, "bo") == 1)
        #expect(try connection.send("HGET", "{acme}:names", "ana").string == "Ana")
        #expect(try connection.send("HGET", "{acme}:teams", "ana").string == "north")
        #expect(try connection.send("SMEMBERS", "{acme}:boards").array?.compactMap(\.string).sorted() == ["doors:7d:reps", "doors:today:reps"])
        // Kept for the retention after its day (see ScriptCallTests.dayExpiry).
        #expect(try connection.send("EXPIRETIME", Self.dayBoard).int == 1_830_643_200)

        #expect(try apply(batch) == [false, false, false])
        #expect(try score(Self.dayBoard, "ana") == 2)
    }

    @Test func aDuplicateAmongNewEventsLeavesTheNewOnesCountedOnce() throws {
        #expect(try apply([Self.knock("e1", "ana")]) == [true])
        // The summed attempt meets e1, takes its records back, and the batch goes event by event.
        #expect(try apply([Self.knock("e4", "bo"), Self.knock("e1", "ana"), Self.knock("e5", "ana")]) == [true, false, true])
        #expect(try score(Self.dayBoard, "ana") == 2)
        #expect(try score(Self.dayBoard, "bo") == 1)
        #expect(try apply([Self.knock("e4", "bo"), Self.knock("e5", "ana")]) == [false, false])
        #expect(try score(Self.dayBoard, "bo") == 1)
    }

    @Test func equalScoresRankFirstReachedFirst() async throws {
        // bo reaches 2 before ana does; cy gets 3, dee 1: ranks 1, 2, 2, 4 with bo above ana
        // although ana comes first by name.
        let batch = [
            Self.knock("e1", "bo", name: "Bo"), Self.knock("e2", "bo"), Self.knock("e3", "ana"), Self.knock("e4", "ana"),
            Self.knock("e5", "cy"), Self.knock("e6", "cy"), Self.knock("e7", "cy"), Self.knock("e8", "dee"),
        ]
        _ = try apply(batch)
        let expected = [
            Entry(rank: 1, member: "cy", name: "cy", score: 3), Entry(rank: 2, member: "bo", name: "Bo", score: 2),
            Entry(rank: 2, member: "ana", name: "ana", score: 2), Entry(rank: 4, member: "dee", name: "dee", score: 1),
        ]
        #expect(try await page("doors:today:reps") == expected)
        // A page that starts inside the tie is still ordered within it.
        #expect(try await page("doors:today:reps", offset: 2, limit: 1) == [expected[2]])

        let target = try #require(try reader.metricTarget(org: "acme", board: "doors:today:reps", period: "2026-11-29"))
        let rank = try await reader.run(BoardReader.rank(target, member: "ana"))
        #expect(rank == MemberRank(board: "doors:today:reps", period: "2026-11-29", member: "ana", rank: 2, score: 2, total: 4))
        let around = try await reader.run(BoardReader.around(target, member: "dee", n: 1))
        #expect(around.entries == Array(expected[1...3]))  // padded at the bottom edge
        await #expect(throws: StoreError.notFound("member: 'zed' is not on doors:today:reps for 2026-11-29")) {
            try await reader.run(BoardReader.rank(target, member: "zed"))
        }
    }

    /// A reader that kept an answer asks with the version it was read at: while nothing of the
    /// org changed it gets the version alone, and after a score or a name changed, the new answer.
    @Test func aReadAtTheVersionItHoldsIsAnsweredWithTheVersionAloneUntilTheOrgChanges() async throws {
        let target = try #require(try reader.metricTarget(org: "acme", board: "doors:today:reps", period: "2026-11-29"))
        let read = BoardReader.top(target, offset: 0, limit: 10)
        func ask(_ call: ScriptCall) throws -> (BoardReader.Version, RedisReply) {
            let reply = try BoardReader.replies([call], on: connection)[0].throwingError()
            return (BoardReader.Version(reply), reply)
        }
        // Nothing scored yet: no version, so nothing a caller holds can be current.
        let (empty, _) = try ask(read.call(unlessAt: ""))
        #expect(empty.value == "" && !empty.unchanged)

        _ = try apply([Self.knock("e1", "ana"), Self.knock("e2", "bo")])
        let (first, reply) = try ask(read.call)
        #expect(!first.unchanged && !first.value.isEmpty)
        #expect(try read.answer(reply).entries.map(\.member) == ["ana", "bo"])
        let (again, alone) = try ask(read.call(unlessAt: first.value))
        #expect(again.unchanged && again.value == first.value)
        #expect(alone.array?.count == 1)

        // Another board's event is still a change of the org: the full answer comes back.
        _ = try apply([Self.knock("e3", "bo", at: Self.day - 86_400_000)])
        let (afterOther, _) = try ask(read.call(unlessAt: first.value))
        #expect(!afterOther.unchanged && afterOther.value != first.value)

        // A name set in the directory changes what the page says, so it moves the version too.
        let (current, _) = try ask(read.call)
        try await RepDirectory(redis: client).put(org: "acme", rep: "bo", name: "Bo Berg", team: nil)
        let (renamed, page) = try ask(read.call(unlessAt: current.value))
        #expect(!renamed.unchanged)
        #expect(try read.answer(page).entries.map(\.name) == ["ana", "Bo Berg"])
    }

    @Test func aRollingBoardSumsItsLastDays() async throws {
        let day: Int64 = 86_400_000
        _ = try apply([
            Self.knock("e1", "ana", at: Self.day - 7 * day),  // 2026-11-22: outside the 7 days to 11-29
            Self.knock("e2", "ana", at: Self.day - 6 * day),  // 2026-11-23
            Self.knock("e3", "bo"), Self.knock("e4", "bo"),
            Self.knock("e5", "ana"),  // ana's last change comes after bo's
        ])
        #expect(try await page("doors:7d:reps") == [
            Entry(rank: 1, member: "bo", name: "bo", score: 2), Entry(rank: 1, member: "ana", name: "ana", score: 2),
        ])
        #expect(try await page("doors:7d:reps", period: "2026-11-22") == [Entry(rank: 1, member: "ana", name: "ana", score: 1)])
    }

    static func contest(_ json: String) throws -> Contest {
        try ContestDefinition.decode(Data(json.utf8)).validated(rules: ScriptCallTests.doorRules)
    }

    @Test func aRaceIsWonByWhoeverReachesTheGoalFirstAndThenStops() async throws {
        let race = try Self.contest("""
            {"id": "race", "name": "Race", "metric": "doors", "goal": 3,
             "starts_at": "2026-11-29T00:00:00Z", "ends_at": "2026-11-30T00:00:00Z"}
            """)
        let reps = ["ana", "bo", "bo", "ana", "bo", "ana", "ana"]  // bo's third knock is the fifth event
        let now = Self.day + 5 * Self.minute
        _ = try apply(reps.enumerated().map { Self.knock("e\($0)", $1) }, contests: [race], now: now)
        #expect(try score("{acme}:board:contest:race", "bo") == 3)
        #expect(try score("{acme}:board:contest:race", "ana") == 2)  // frozen once bo won
        #expect(try score(Self.dayBoard, "ana") == 4)  // the ordinary boards keep counting
        #expect(try ContestStore.finishes([race], org: "acme", on: connection) == ["race": .init(at: now, winner: "bo")])

        _ = try apply([Self.knock("e9", "ana")], contests: [race], now: now + Self.minute)
        #expect(try score("{acme}:board:contest:race", "ana") == 2)
    }

    @Test func aContestCountsOnlyEventsInItsWindow() throws {
        let blitz = try Self.contest("""
            {"id": "blitz", "name": "Blitz", "metric": "doors",
             "starts_at": "2026-11-29T12:00:00Z", "ends_at": "2026-11-29T13:00:00Z"}
            """)
        let noon = blitz.startsAt
        let batch = [
            Self.knock("e1", "ana", at: noon - Self.minute), Self.knock("e2", "ana", at: noon),
            Self.knock("e3", "ana", at: noon + 59 * Self.minute), Self.knock("e4", "ana", at: noon + 60 * Self.minute),
        ]
        _ = try apply(batch, contests: [blitz], now: noon + 59 * Self.minute + 30_000)  // before the end: no grace
        #expect(try score("{acme}:board:contest:blitz", "ana") == 2)
    }

    @Test func contestsAreStoredOnceAndTheirAnnouncementsRemembered() async throws {
        let store = ContestStore(redis: client)
        let late = try Self.contest("""
            {"id": "late", "name": "Late", "metric": "doors", "starts_at": "2026-12-05T00:00:00Z", "ends_at": "2026-12-06T00:00:00Z"}
            """)
        let early = try Self.contest("""
            {"id": "early", "name": "Early", "metric": "doors", "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-12-02T00:00:00Z"}
            """)
        #expect(try await store.create(late, org: "acme"))
        #expect(try await store.create(early, org: "acme"))
        #expect(try await store.create(late, org: "acme") == false)
        #expect(try await store.stored(org: "acme").map(\.id) == ["early", "late"])
        #expect(try await store.orgs() == ["acme"])
        await #expect(throws: StoreError.notFound("contest: no contest 'nope' in org 'acme'")) {
            try await store.contest(org: "acme", id: "nope")
        }
        var ended = late
        ended.endedAt = 1
        try await store.save(ended, org: "acme")
        #expect(try await store.contest(org: "acme", id: "late").endedAt == 1)

        try await store.markAnnounced(org: "acme", contest: "late", state: "running")
        #expect(try await store.announced(org: "acme") == ["late": "running"])
    }

    @Test func theDirectoryKeepsNamesAndTeams() async throws {
        let directory = RepDirectory(redis: client)
        try await directory.put(org: "acme", rep: "ana", name: "Ana López", team: "north")
        try await directory.put(org: "acme", rep: "bo", name: nil, team: "south")
        #expect(try await directory.teams(org: "acme", reps: ["bo", "ana", "cy"]) == ["south", "north", nil])
        #expect(try connection.send("HGET", "{acme}:names", "ana").string == "Ana López")
    }
}

/// Findings of the hardening issue in the scripts, each a test that failed before its fix.
@Suite struct ScriptHardeningTests {
    let fixture: StoreFixture
    let reader: BoardReader
    var connection: RedisConnection { fixture.connection }

    init() throws {
        fixture = try StoreFixture()
        reader = BoardReader(redis: fixture.client, rules: RulesBook())
    }

    func apply(_ events: [ActivityEvent]) throws -> [Bool] {
        try BoardWriter.apply(ScoringPlan(org: "acme", events: events, rules: .default), rules: .default, now: StoreTests.day, on: connection)
    }

    static func deal(_ id: String, _ rep: String, _ value: Double) -> ActivityEvent {
        ActivityEvent(id: id, org: "acme", rep: rep, kind: "deal_won", value: value, at: StoreTests.day)
    }

    func page(_ board: String) async throws -> [Entry] {
        let target = try #require(try reader.metricTarget(org: "acme", board: board, period: "2026-11-29"))
        return try await reader.top(target, offset: 0, limit: 10).entries
    }

    /// A deal of value 0 adds nothing, so it must not make its rep "reach" its score again:
    /// not on its day's board, and not on the rolling boards that read the day's.
    @Test(arguments: [false, true]) func anIncrementOfZeroLeavesFirstReachedOrder(eventByEvent: Bool) async throws {
        let yesterday = StoreTests.day - 86_400_000
        _ = try apply([ActivityEvent(id: "d1", org: "acme", rep: "ana", kind: "deal_won", value: 100, at: yesterday)])
        _ = try apply([Self.deal("d2", "bo", 100)])
        // With a duplicate in it, the batch goes through apply-events.lua instead of apply-sums.lua.
        _ = try apply((eventByEvent ? [Self.deal("d2", "bo", 100)] : []) + [Self.deal("d3", "ana", 0), Self.deal("d4", "cy", 0)])
        #expect(try await page("revenue:7d:reps").map(\.member) == ["ana", "bo"])
        // Today ana has only her 0: nothing to place her on the day's board with; nor cy.
        #expect(try await page("revenue:today:reps").map(\.member) == ["bo"])
        // A 0 and then a real amount in one batch: the member reached its score with the latter.
        _ = try apply([Self.deal("d5", "cy", 0), Self.deal("d6", "dee", 100), Self.deal("d7", "cy", 100)])
        #expect(try await page("revenue:today:reps").map(\.member) == ["bo", "dee", "cy"])
    }

    /// Lua's unpack() fails past about 8,000 values; a script that fails halfway keeps what it
    /// wrote, so the retry of the batch would answer `duplicate` for events never counted.
    @Test func aBatchOfSixThousandMembersWithADuplicateIsCountedWhole() throws {
        _ = try apply([Self.deal("seen-before", "ana", 1)])
        let batch = [Self.deal("seen-before", "ana", 1)]
            + (0..<6_000).map { ActivityEvent(id: "k\($0)", org: "acme", rep: "rep-\($0)", kind: "door_knock", at: StoreTests.day) }
        let counted = try apply(batch)
        #expect(counted == [false] + Array(repeating: true, count: 6_000))
        #expect(try connection.send("ZCARD", "{acme}:board:doors:today:reps:2026-11-29").int == 6_000)
        #expect(try connection.send("HLEN", "{acme}:reached:doors:today:reps:2026-11-29").int == 6_000)
    }
}
