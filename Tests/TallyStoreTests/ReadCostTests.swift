import Foundation
import Redis
import TallyDomain
import TallyStore
import TallyTesting
import Testing

/// What a read costs Redis depends on what it answers, not on the board: a page of a board
/// whose every member ties reads that page's rows, and reads write nothing, so they run on a
/// replica.
@Suite struct ReadCostTests {
    static let rules = ScriptCallTests.doorRules
    static let day = ScriptCallTests.at  // 2026-11-29 10:00 UTC

    /// `count` reps who each knock once, in order, a thousand to a batch: all tie on 1.
    static func tie(_ count: Int, on connection: RedisConnection) throws {
        for first in stride(from: 0, to: count, by: 1_000) {
            let events = (first..<min(first + 1_000, count)).map { rep in
                ActivityEvent(id: "e\(rep)", org: "acme", rep: String(format: "rep-%05d", rep), kind: "door_knock", at: day)
            }
            let plan = ScoringPlan(org: "acme", events: events, rules: rules)
            _ = try BoardWriter.apply(plan, rules: rules, now: day, on: connection)
        }
    }

    @Test func aPageOfATwentyThousandWayTieReadsOnlyItsOwnRows() throws {
        let server = try RedisServer()
        let connection = server.connection()
        try Self.tie(20_000, on: connection)
        let target = try #require(try BoardTarget.metric(org: "acme", board: "doors:today:reps", period: "2026-11-29", rules: Self.rules))

        let monitor = try RedisMonitor(server)
        let reads = [
            BoardReader.top(target, offset: 0, limit: 10), BoardReader.top(target, offset: 12_345, limit: 3),
            BoardReader.around(target, member: "rep-19999", n: 2),
        ]
        let replies = try BoardReader.replies(reads.map(\.call), on: connection)
        let pages = try zip(reads, replies).map { read, reply in try read.answer(reply.throwingError()) }
        let rank = try BoardReader.rank(target, member: "rep-07000").answer(try BoardReader.replies([BoardReader.rank(target, member: "rep-07000").call], on: connection)[0])

        // Everyone ties on 1, so everyone ranks 1, listed in the order they got there.
        #expect(pages[0].total == 20_000)
        #expect(pages[0].entries.map(\.member) == (0..<10).map { String(format: "rep-%05d", $0) })
        #expect(pages[1].entries.map(\.member) == ["rep-12345", "rep-12346", "rep-12347"])
        #expect(pages[2].entries.map(\.member) == ["rep-19995", "rep-19996", "rep-19997", "rep-19998", "rep-19999"])
        #expect(pages.allSatisfy { $0.entries.allSatisfy { $0.rank == 1 && $0.score == 1 } })
        #expect(rank.rank == 1 && rank.total == 20_000)

        // What the four reads asked of Redis from inside the script: a few commands each, naming
        // a few members each (the rows' names and targets), not the 20,000 of the tie.
        let inside = try monitor.commands().filter(\.fromLua)
        let named = inside.reduce(0) { $0 + $1.arguments.count }
        #expect(inside.count <= 4 * 7, "\(inside.count) commands: \(inside.map { $0.arguments.prefix(3) })")
        #expect(named <= 130, "the scripts' commands had \(named) arguments")
    }

    @Test func boardsReadTheSameOnAReplica() throws {
        let master = try RedisServer()
        let replica = try RedisServer(replicaOf: master)
        let connection = master.connection()
        var events: [ActivityEvent] = []
        for (index, rep) in ["ana", "bo", "ana", "cy", "bo", "dee"].enumerated() {
            // Over three days, so that the rolling board sums more than one.
            events.append(ActivityEvent(
                id: "e\(index)", org: "acme", rep: rep, team: rep == "ana" ? "north" : "south", kind: "door_knock",
                at: Self.day - Int64(index % 3) * 86_400_000))
        }
        var rules = Self.rules
        rules.scopes = [.reps, .teams]
        _ = try BoardWriter.apply(ScoringPlan(org: "acme", events: events, rules: rules), rules: rules, now: Self.day, on: connection)
        try wait("the replica to be in sync") {
            (try connection.send("INFO", "replication").string ?? "").contains("state=online")
                && (try? replica.connection().send("EXISTS", "{acme}:seen:e5").int) == 1
        }

        var calls: [ScriptCall] = []
        for board in ["doors:today:reps", "doors:7d:reps", "doors:7d:teams"] {
            let target = try #require(try BoardTarget.metric(org: "acme", board: board, period: "2026-11-29", rules: rules))
            calls += [target.call(mode: "page", 0, 10, member: ""), target.call(mode: "rank", 0, 0, member: "bo"),
                      target.call(mode: "around", 1, 0, member: "cy")]
        }
        let onMaster = try BoardReader.replies(calls, on: connection)
        let onReplica = try BoardReader.replies(calls, on: replica.connection())
        for (call, (mine, theirs)) in zip(calls, zip(onMaster, onReplica)) {
            if case .error(let message) = theirs { Issue.record("\(call.arguments[0]) of \(call.keys[0]) on the replica: \(message)") }
            #expect("\(mine)" == "\(theirs)", "\(call.arguments[0]) of \(call.keys[0])")
        }
        // The rolling board: ana 2 (days -0 and -2), bo 2, cy 1, dee 1; the team board: south 4, north 2.
        let rolling = try BoardReader.top(
            try #require(try BoardTarget.metric(org: "acme", board: "doors:7d:reps", period: "2026-11-29", rules: rules)), offset: 0, limit: 10
        ).answer(onReplica[3])
        #expect(rolling.entries.map { "\($0.rank) \($0.member) \(Int($0.score))" } == ["1 ana 2", "1 bo 2", "3 cy 1", "3 dee 1"])
        let teams = try BoardReader.top(
            try #require(try BoardTarget.metric(org: "acme", board: "doors:7d:teams", period: "2026-11-29", rules: rules)), offset: 0, limit: 10
        ).answer(onReplica[6])
        #expect(teams.entries.map { "\($0.member) \(Int($0.score))" } == ["south 4", "north 2"])
    }

    @Test func aBoardWrittenBeforeTheIndexIsReadByItsPageAndItsEdges() throws {
        let server = try RedisServer()
        let connection = server.connection()
        // As a version before the order index left a board: scores and reached sequences, no
        // index. 20,000 reps in tied pairs (rep-0 and rep-1 on 10,000, rep-2 and rep-3 on 9,999,
        // ...), and within each pair the second got there first.
        let keys = Keys(org: "acme")
        for first in stride(from: 0, to: 20_000, by: 1_000) {
            let chunk = first..<first + 1_000
            _ = try connection.pipeline([
                ["ZADD", keys.board("doors:today:reps", period: "2026-11-29")] + chunk.flatMap { [String(10_000 - $0 / 2), "rep-\($0)"] as [any RedisArgument] },
                ["HSET", keys.reached("doors:today:reps", period: "2026-11-29")] + chunk.flatMap { ["rep-\($0)", String(20_000 - $0)] as [any RedisArgument] },
            ])
        }
        let target = try #require(try BoardTarget.metric(org: "acme", board: "doors:today:reps", period: "2026-11-29", rules: Self.rules))
        let monitor = try RedisMonitor(server)
        let reads = [BoardReader.top(target, offset: 0, limit: 4), BoardReader.top(target, offset: 1, limit: 2),
                     BoardReader.around(target, member: "rep-2", n: 1)]
        let replies = try BoardReader.replies(reads.map(\.call) + [BoardReader.rank(target, member: "rep-2").call], on: connection)
        let pages = try zip(reads, replies).map { read, reply in try read.answer(reply.throwingError()) }
        let rank = try BoardReader.rank(target, member: "rep-2").answer(replies[3])

        func rows(_ list: EntryList) -> [String] { list.entries.map { "\($0.rank) \($0.member)" } }
        #expect(rows(pages[0]) == ["1 rep-1", "1 rep-0", "3 rep-3", "3 rep-2"])
        #expect(rows(pages[1]) == ["1 rep-0", "3 rep-3"])
        #expect(rows(pages[2]) == ["3 rep-3", "3 rep-2", "5 rep-5"])
        #expect(rank.rank == 3 && rank.score == 9_999 && rank.total == 20_000)
        // Each read takes its page and the ties at its edges, never the whole board.
        let inside = try monitor.commands().filter(\.fromLua)
        #expect(!inside.contains { $0.arguments.contains("-1") }, "\(inside.map(\.arguments))")
        #expect(inside.reduce(0) { $0 + $1.arguments.count } <= 150)
    }

    @Test func aBoardGetsItsOrderIndexAsItGrowsPastASmallSize() throws {
        let server = try RedisServer()
        let connection = server.connection()
        let keys = Keys(org: "acme")
        let board = keys.board("doors:today:reps", period: "2026-11-29")
        let order = keys.order("doors:today:reps", period: "2026-11-29")
        let target = try #require(try BoardTarget.metric(org: "acme", board: "doors:today:reps", period: "2026-11-29", rules: Self.rules))
        func top(_ offset: Int, _ limit: Int) throws -> [String] {
            let read = BoardReader.top(target, offset: offset, limit: limit)
            return try read.answer(BoardReader.replies([read.call], on: connection)[0].throwingError()).entries.map { "\($0.rank) \($0.member) \(Int($0.score))" }
        }

        // A hundred reps: a small board, read whole, with no index to keep.
        try Self.tie(100, on: connection)
        #expect(try connection.send("EXISTS", order).int == 0)
        #expect(try top(98, 5) == ["1 rep-00098 1", "1 rep-00099 1"])

        // Two hundred (the first hundred resent: duplicates, so the batch goes event by event):
        // past the size, the index is built whole, expiring with its board.
        try Self.tie(200, on: connection)
        #expect(try connection.send("ZCARD", order).int == 200)
        #expect(try connection.send("EXPIRETIME", order).int == (try connection.send("EXPIRETIME", board).int))
        #expect(try top(0, 2) == ["1 rep-00000 1", "1 rep-00001 1"])

        // And kept: a second knock moves its rep to the top, the rest keep their order.
        let again = ActivityEvent(id: "again", org: "acme", rep: "rep-00150", kind: "door_knock", at: Self.day)
        _ = try BoardWriter.apply(ScoringPlan(org: "acme", events: [again], rules: Self.rules), rules: Self.rules, now: Self.day, on: connection)
        #expect(try connection.send("ZCARD", order).int == 200)
        #expect(try top(0, 3) == ["1 rep-00150 2", "2 rep-00000 1", "2 rep-00001 1"])
        #expect(try top(149, 3) == ["2 rep-00148 1", "2 rep-00149 1", "2 rep-00151 1"])
    }
}
