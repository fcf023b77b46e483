import Foundation
import Redis
import TallyTesting
import Testing
import ZeroMQ

/// Displays against the real stack: events go in through ingestion and scoring, and come out
/// of tally-notification over WebSocket and ZeroMQ as snapshots and sequenced updates.
// `@unchecked Sendable`: each test gets its own instance and drives it from one task.
@Suite(.serialized) final class StreamTests: @unchecked Sendable {
    private(set) var stack: TallyStack!
    private(set) var app: FieldApp!
    let board = "points:all:reps"
    var events = 0

    /// Notification, ingestion and a worker over `deployment`; each test starts with it.
    func start(on deployment: RedisDeployment = .single) throws {
        stack = try TallyStack(deployment: deployment)
        try stack.startWithNotification()
        app = try FieldApp(stack.endpoint)
    }

    var streamURL: String { "ws://127.0.0.1:\(stack.notificationHTTPPort)/v1/stream?org=default&board=\(board)" }

    /// Sends one event now and checks it was accepted.
    func send(_ rep: String, _ kind: String, name: String? = nil, team: String? = nil, value: Double? = nil) throws {
        events += 1
        let reply = try app.request(eventJSON(
            id: "e-\(events)", rep: rep, name: name ?? rep.capitalized, team: team, kind: kind, value: value,
            at: rfc3339(Date())))
        #expect(reply?.results?.first?.status == "accepted", "\(String(describing: reply))")
    }

    /// The board as Redis has it, "member=score" best first (ties: as the leaderboard orders
    /// them, which these tests avoid).
    func redisLines(_ board: String = "points:all:reps") throws -> [String] {
        let key = "{default}:board:\(board):all"
        let reply = try RedisConnection(stack.redis.configuration).send("ZREVRANGE", key, "0", "-1", "WITHSCORES")
        let items = (reply.array ?? []).compactMap(\.string)
        return stride(from: 0, to: items.count, by: 2).map { "\(items[$0])=\(Int(Double(items[$0 + 1])!))" }
    }

    /// The same members with the same scores, best first; members with equal scores may be
    /// in any order (Redis orders ties by name, Tally by who got there first).
    func sameBoard(_ lines: [String], _ expected: [String]) -> Bool {
        func score(_ line: String) -> Int { Int(line.split(separator: "=").last!)! }
        return Set(lines) == Set(expected) && lines.map(score) == expected.map(score)
    }

    @Test(arguments: RedisDeployment.allCases)
    func aWebSocketDisplayGetsASnapshotThenUpdatesInSequenceEqualToTheBoard(on deployment: RedisDeployment) throws {
        try start(on: deployment)
        // Points (default rules): door knock 1, call 1, demo 10.
        try send("ana", "door_knock", team: "north")
        try send("ana", "door_knock", team: "north")
        try send("ana", "door_knock", team: "north")
        try send("ben", "call", team: "south")

        let display = StreamClient(url: streamURL)
        let snapshot = try display.wait(for: "the snapshot") { $0.type == "snapshot" && $0.board == board }
        #expect(snapshot.lines == ["ana=3", "ben=1"])
        #expect(snapshot.period == "all")
        #expect(snapshot.entries?.map(\.team) == ["north", "south"])
        #expect(snapshot.entries?.map(\.name) == ["Ana", "Ben"])

        // Ben's demo takes him past Ana: 11 to 3.
        try send("ben", "demo", team: "south")
        let overtaken = try display.wait(for: "the overtake") { $0.type == "update" && $0.lines == ["ben=11", "ana=3"] }
        #expect(overtaken.moves == [.init(member: "ben", from: 2, to: 1), .init(member: "ana", from: 1, to: 2)])
        #expect(overtaken.highlights?.contains(.init(type: "overtake", member: "ben", passed: "ana", rank: 1)) == true)
        #expect(overtaken.highlights?.contains(.init(type: "leader", member: "ben", passed: nil, rank: 1)) == true)

        // Cy enters with a call; then Ana draws level with Ben's 11 (ties keep first-reached order).
        try send("cy", "call", team: "north")
        try display.wait(for: "cy entering") { $0.type == "update" && $0.lines == ["ben=11", "ana=3", "cy=1"] }
        for _ in 0..<8 { try send("ana", "door_knock", team: "north") }
        let last = try display.wait(for: "ana level") { $0.type == "update" && $0.lines == ["ben=11", "ana=11", "cy=1"] }
        #expect(last.entries?.map(\.rank) == [1, 1, 3])

        // Every update has the next sequence number after the snapshot's, and the last one
        // shows the board exactly as Redis has it.
        let updates = display.messages.filter { $0.type == "update" && $0.board == board }
        #expect(updates.compactMap(\.seq) == Array((snapshot.seq! + 1)...(snapshot.seq! + updates.count)))
        #expect(sameBoard(try redisLines(), ["ben=11", "ana=11", "cy=1"]))
        #expect(sameBoard(updates.last?.lines ?? [], try redisLines()))
    }

    @Test(arguments: RedisDeployment.allCases)
    func aZeroMQDisplayGetsTheSnapshotUpdatesAndTheOrgsDeals(on deployment: RedisDeployment) async throws {
        try start(on: deployment)
        try send("ana", "call")
        let display = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: ["default/\(board)", "default/_events"])
        defer { Task { await display.close() } }
        let topic = "default/\(board)"
        let snapshot = try display.wait(for: "the snapshot", topic: topic) { $0.type == "snapshot" }
        #expect(snapshot.lines == ["ana=1"])

        try send("ben", "deal_won", name: "Ben Okafor", team: "south", value: 12_500)
        let deal = try display.wait(for: "the deal\n\(display.messages(topic: topic))\n\(display.messages(topic: "default/_events"))\n\(stack.logs)", topic: "default/_events") { $0.type == "deal" }
        #expect(deal.rep == "ben")
        #expect(deal.name == "Ben Okafor")
        #expect(deal.value == 12_500)
        let update = try display.wait(for: "the update", topic: topic) { $0.type == "update" }
        #expect(update.seq == snapshot.seq! + 1)
        #expect(update.lines == ["ben=50", "ana=1"])
        #expect(update.highlights?.contains(.init(type: "overtake", member: "ben", passed: "ana", rank: 1)) == true)
    }

    @Test func twoHundredDisplaysOnOneBoardAllGetTheSameUpdate() throws {
        try start()
        try send("ana", "call")
        let displays = (0..<200).map { _ in StreamClient(url: streamURL) }
        for (index, display) in displays.enumerated() {
            _ = try display.wait(for: "display \(index)'s snapshot") { $0.type == "snapshot" }
        }
        try send("ben", "demo")
        var updates: [StreamMessage] = []
        for (index, display) in displays.enumerated() {
            updates.append(try display.wait(for: "display \(index)'s update") { $0.type == "update" && $0.lines == ["ben=10", "ana=1"] })
        }
        #expect(Set(updates.compactMap(\.seq)).count == 1, "every display saw the same sequence number")
        #expect(updates.allSatisfy { $0 == updates[0] })
        let metrics = try httpGet(port: stack.notificationHTTPPort, "/metrics").body
        #expect(metrics.contains("tally_displays{transport=\"websocket\"} 200.0\n"), "\(metrics)")
    }

    @Test func aDisplayThatStopsReadingHoldsUpNobodyAndIsSentASnapshotLater() throws {
        try start()
        // A small outbox and big messages (300 reps with long names on each of 8 boards), so
        // the stalled display fills the kernel's socket buffer (up to 4 MiB here) and then its
        // outbox within a few seconds.
        try stack.stopNotification()
        try stack.startNotification(["--display-queue", "4", "--top", "300"])
        let boards = ["points", "doors"].flatMap { metric in ["all", "year", "quarter", "month"].map { "\(metric):\($0):reps" } }
        let query = "/v1/stream?org=default" + boards.map { "&board=\($0)" }.joined()
        let longName = String(repeating: "Alexandra Constantinople-Featherstonehaugh ", count: 2)
        for first in stride(from: 0, to: 300, by: 100) {
            let batch = (first..<first + 100).map { rep in
                eventJSON(id: "seed-\(rep)", rep: "rep-\(rep)", name: "\(longName)\(rep)", kind: "door_knock", at: rfc3339(Date()))
            }
            let reply = try app.request(batchJSON(batch))
            #expect(reply?.results?.allSatisfy { $0.status == "accepted" } == true)
        }

        let stalled = try RawStreamClient(port: stack.notificationHTTPPort, path: query)
        let reader = StreamClient(url: "ws://127.0.0.1:\(stack.notificationHTTPPort)\(query)")
        _ = try reader.wait(for: "the reader's snapshots") { $0.type == "snapshot" && $0.board == "doors:month:reps" }

        // Rounds of door knocks, a little slower than the coalescing interval so that each
        // round is an update of every board.
        let rounds = 24
        for round in 0..<rounds {
            try send("rep-\(round)", "door_knock")
            Thread.sleep(forTimeInterval: 0.3)
        }
        let final = try redisLines()
        // The reading display has the final board while the stalled one still reads nothing.
        _ = try reader.wait(for: "the reader's last update") { $0.board == "points:all:reps" && sameBoard($0.lines, final) }

        let metrics = try httpGet(port: stack.notificationHTTPPort, "/metrics").body
        let resnapshots = metrics.split(separator: "\n").first { $0.hasPrefix("tally_display_resnapshots_total ") }
        #expect(resnapshots.flatMap { Double($0.split(separator: " ")[1]) } ?? 0 >= 1, "the stalled display fell behind:\n\(metrics)")

        // Reading again, the stalled display gets what was in flight, then a fresh snapshot.
        let received = stalled.read(seconds: 60) { $0.type == "snapshot" && $0.board == "points:all:reps" && $0.seq! > 1 }
        let lastAll = try #require(received.last { $0.board == "points:all:reps" })
        #expect(lastAll.type == "snapshot")
        #expect(sameBoard(lastAll.lines, final))
        // The backlog was dropped, not delivered: the updates it did get skip sequence numbers
        // (coalescing alone never does), and the snapshot brings it to the latest.
        let seqs = received.filter { $0.board == "points:all:reps" && $0.type == "update" }.compactMap(\.seq)
        #expect(zip(seqs, seqs.dropFirst()).contains { $1 > $0 + 1 } || (lastAll.seq ?? 0) > (seqs.last ?? 0) + 1, "\(seqs) then \(lastAll.seq ?? 0)")
    }

    @Test func aBoardNobodyWatchesAnyMoreIsForgotten() async throws {
        try start()
        func watched() throws -> Double? {
            try httpGet(port: stack.notificationHTTPPort, "/metrics").body.split(separator: "\n")
                .first { $0.hasPrefix("tally_watched_boards ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        try send("ana", "call")
        let display = StreamClient(url: streamURL)
        _ = try display.wait(for: "the snapshot") { $0.type == "snapshot" }
        // A ZeroMQ display subscribing twice to the same topic, and once to another board.
        let zmq = try ZMQDisplay(
            "tcp://127.0.0.1:\(stack.displaysPort)", topics: ["default/\(board)", "default/\(board)", "default/points:week:reps"])
        _ = try zmq.wait(for: "the week's snapshot", topic: "default/points:week:reps") { $0.type == "snapshot" }
        do {
            try wait("two watched boards") { try watched() == 2 }
        } catch {
            Issue.record("\(error)\n\(try httpGet(port: stack.notificationHTTPPort, "/metrics").body)")
            return
        }

        display.close()
        await zmq.close()
        try wait("no watched boards") { try watched() == 0 }
    }

    @Test func aResyncRequestIsAnsweredWithASnapshotAndABadOneWithAnError() throws {
        try start()
        try send("ana", "call")
        let display = StreamClient(url: streamURL)
        _ = try display.wait(for: "the snapshot") { $0.type == "snapshot" }
        display.send(#"{"type":"resync","board":"points:all:reps"}"#)
        try wait("a second snapshot") { display.messages.filter { $0.type == "snapshot" }.count == 2 }
        #expect(display.messages.filter { $0.type == "snapshot" }.map(\.lines) == [["ana=1"], ["ana=1"]])

        display.send(#"{"type":"resync","board":"revenue:all:reps"}"#)
        let error = try display.wait(for: "an error") { $0.type == "error" }
        #expect(error.error?.hasPrefix("board:") == true)
        display.send("not json")
        _ = try display.wait(for: "a second error") { $0.type == "error" && $0.error?.hasPrefix("message:") == true }
    }

    @Test func aBoardThatDoesNotExistIsAnErrorOnTheStreamAndABadRequestIsRefused() throws {
        try start()
        try send("ana", "call")
        // A TV page cannot read an HTTP error, so unknown boards are reported on the stream.
        let display = StreamClient(url: "ws://127.0.0.1:\(stack.notificationHTTPPort)/v1/stream?board=nope:today:reps&board=\(board)")
        let error = try display.wait(for: "the error") { $0.type == "error" }
        #expect(error.board == "nope:today:reps")
        #expect(error.error?.hasPrefix("board: unknown board 'nope:today:reps'") == true, "\(error)")
        let snapshot = try display.wait(for: "the other board's snapshot") { $0.type == "snapshot" }
        #expect(snapshot.lines == ["ana=1"])

        let badOrg = try httpGet(port: stack.notificationHTTPPort, "/v1/stream?org=Bad%20Org&board=points:today:reps")
        #expect(badOrg.status == 400)
        #expect(badOrg.body.contains("org:"))
        let none = try httpGet(port: stack.notificationHTTPPort, "/v1/stream?org=default")
        #expect(none.status == 400)
        #expect(none.body.contains("board:"))
        // And the service still serves.
        #expect(try httpGet(port: stack.notificationHTTPPort, "/healthz").status == 200)
    }
}
