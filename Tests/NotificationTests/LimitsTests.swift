import Foundation
import Redis
import TallyTesting
import Testing
import ZeroMQ

/// What one display, or many, can make tally-notification spend: Redis commands for boards
/// nobody has, watched boards, WebSocket connections, boards per stream, and time on a peer
/// that is gone. Every refusal is visible to the client and counted in `/metrics`.
// `@unchecked Sendable`: each test gets its own instance and drives it from one task.
@Suite(.serialized) final class LimitsTests: @unchecked Sendable {
    let stack: TallyStack
    let app: FieldApp
    var events = 0

    init() throws {
        stack = try TallyStack()
        try stack.startWithNotification()
        app = try FieldApp(stack.endpoint)
    }

    func send(_ rep: String, _ kind: String, org: String? = nil) throws {
        events += 1
        let reply = try app.request(eventJSON(id: "e-\(events)", org: org, rep: rep, kind: kind, at: rfc3339(Date())))
        #expect(reply?.results?.first?.status == "accepted", "\(String(describing: reply))")
    }

    func restartNotification(_ options: [String]) throws {
        try stack.stopNotification()
        try stack.startNotification(options)
    }

    func stream(org: String = "default", _ boards: [String]) -> StreamClient {
        StreamClient(url: "ws://127.0.0.1:\(stack.notificationHTTPPort)/v1/stream?org=\(org)" + boards.map { "&board=\($0)" }.joined())
    }

    /// The value of one line of `/metrics`, e.g. `tally_refusals_total{reason="displays"}`; 0 when absent.
    func metric(_ name: String) throws -> Double {
        let body = try httpGet(port: stack.notificationHTTPPort, "/metrics").body
        return body.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) } ?? 0
    }

    @Test func subscriptionsToInventedOrgsCostOneCheckEachThenNoRedisCommandsAtAll() async throws {
        try send("ana", "call")
        let connection = stack.redis.connection()
        let log = stack.server.directory.appendingPathComponent("monitor.log")
        let monitor = try ChildProcess(try Executables.installed("redis-cli"), ["-p", String(stack.server.port), "monitor"], logFile: log)
        defer { monitor.stop(within: 2) }
        try wait("redis-cli monitor to start") { (try connection.send("CLIENT", "LIST").string ?? "").contains("cmd=monitor") }

        // Orgs nobody has, with board ids the default rules define: each one a board that
        // could exist, so only Redis can tell.
        let topics = (0..<20).map { "invented-\($0)/points:today:reps" }
        let display = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: topics)
        defer { Task { await display.close() } }
        for topic in topics {
            _ = try display.wait(for: "an answer on \(topic)", topic: topic) { _ in true }
        }
        _ = try connection.send("ECHO", "checked")
        // Longer than a sweep (every 5 s): on a watched board it reads the board again.
        try await Task.sleep(for: .seconds(6))
        _ = try connection.send("ECHO", "swept")
        try wait("the monitor to log everything") { (try? String(contentsOf: log, encoding: .utf8))?.contains("\"swept\"") == true }

        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        let checked = try #require(lines.firstIndex { $0.contains("\"checked\"") })
        let invented = { (line: Substring) in line.contains("{invented-") }
        let first = lines[..<checked].filter(invented)
        let after = lines[checked...].filter(invented)
        #expect(first.count <= topics.count, "one check per invented board, got:\n\(first.joined(separator: "\n"))")
        #expect(after.isEmpty, "no command for an invented board after its check, got \(after.count):\n\(after.prefix(10).joined(separator: "\n"))")
    }

    @Test func aBoardWithNoEventsYetComesAliveWithItsFirstEvent() throws {
        // A new org's TV set up before its first sale: an empty board, then the sale.
        let display = stream(org: "fresh", ["points:today:reps"])
        let snapshot = try display.wait(for: "the empty snapshot") { $0.type == "snapshot" }
        #expect(snapshot.lines == [])
        try send("ana", "call", org: "fresh")
        let update = try display.wait(for: "the first sale") { $0.type == "update" }
        #expect(update.lines == ["ana=1"])
        #expect(update.seq == snapshot.seq! + 1)
    }

    @Test func overTheWatchedBoardCapASubscriptionIsNotWatchedAndCounted() throws {
        try restartNotification(["--max-boards", "2"])
        try send("ana", "call")
        // A board nobody has costs no place under the cap; of three real ones, two fit.
        let real = ["points:all:reps", "points:today:reps", "points:week:reps"].map { "default/\($0)" }
        let display = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: ["invented/points:all:reps"] + real)
        defer { Task { await display.close() } }
        _ = try display.wait(for: "the invented board's empty snapshot", topic: "invented/points:all:reps") { $0.type == "snapshot" }
        try wait("one refusal") { try metric("tally_refusals_total{reason=\"watched_boards\"}") == 1 }
        try wait("two snapshots") { real.filter { !display.messages(topic: $0).isEmpty }.count == 2 }

        // A TV asking for a third board is told to come back later.
        let tv = stream(["points:month:reps"])
        try wait("the TV to be refused") { tv.closedWith != nil }
        #expect(tv.closedWith?.code == 1013)
        #expect(tv.closedWith?.reason.contains("boards") == true, "\(String(describing: tv.closedWith))")
        #expect(try metric("tally_refusals_total{reason=\"watched_boards\"}") == 2)
        #expect(real.filter { !display.messages(topic: $0).isEmpty }.count == 2)
    }

    @Test func theDisplayOverACapIsRefusedWithAReasonWhileTheOthersKeepUpdating() throws {
        try restartNotification(["--max-displays", "3", "--max-org-displays", "2"])
        try send("ana", "call")
        try send("ana", "call", org: "other")
        let first = stream(["points:all:reps"])
        let second = stream(["points:all:reps"])
        for display in [first, second] { _ = try display.wait(for: "a snapshot") { $0.type == "snapshot" } }

        // The org's third TV is refused; another org's TV still gets in.
        let third = stream(["points:all:reps"])
        try wait("the org's third display to be refused") { third.closedWith != nil }
        #expect(third.closedWith?.code == 1013)
        #expect(third.closedWith?.reason.contains("org") == true, "\(String(describing: third.closedWith))")
        let elsewhere = stream(org: "other", ["points:all:reps"])
        _ = try elsewhere.wait(for: "the other org's snapshot") { $0.type == "snapshot" }
        let fourth = stream(org: "other", ["points:all:reps"])
        try wait("the display over the total to be refused") { fourth.closedWith != nil }
        #expect(fourth.closedWith?.code == 1013)

        try send("ben", "demo")
        for display in [first, second] {
            _ = try display.wait(for: "the update") { $0.type == "update" && $0.lines == ["ben=10", "ana=1"] }
        }
        #expect(try metric("tally_refusals_total{reason=\"org_displays\"}") == 1)
        #expect(try metric("tally_refusals_total{reason=\"displays\"}") == 1)
        #expect(try metric("tally_displays{transport=\"websocket\"}") == 3)
    }

    @Test func aStreamAskingForTooManyBoardsIsRefusedWithAReason() throws {
        try restartNotification(["--max-stream-boards", "2"])
        let display = stream(["points:all:reps", "points:today:reps", "points:week:reps"])
        try wait("the stream to be refused") { display.closedWith != nil || display.ended != nil }
        #expect(display.closedWith?.code == 1008, "\(String(describing: display.ended))")
        #expect(display.closedWith?.reason == "board: at most 2 per stream")
        #expect(try metric("tally_refusals_total{reason=\"stream_boards\"}") == 1)
    }

    @Test func aDisplayThatAnswersNoPingIsClosedWhileOneThatListensStays() throws {
        try restartNotification(["--idle-timeout-ms", "1000"])
        try send("ana", "call")
        let tv = stream(["points:all:reps"])
        _ = try tv.wait(for: "the TV's snapshot") { $0.type == "snapshot" }
        // A peer that is gone: it neither reads nor answers pings.
        let gone = try RawStreamClient(port: stack.notificationHTTPPort, path: "/v1/stream?org=default&board=points:all:reps")
        #expect(gone.waitUntilClosed(seconds: 10), "the dead peer is closed")
        // The TV only listens, but answers pings: it is still there and still updated.
        #expect(tv.ended == nil)
        try send("ben", "demo")
        _ = try tv.wait(for: "the TV's update") { $0.type == "update" && $0.lines == ["ben=10", "ana=1"] }
    }

    @Test func aTVWaitingOnAnEmptyBoardIsToldWhenItsFirstSaleFindsTheServerFull() throws {
        try restartNotification(["--max-boards", "1"])
        try send("ana", "call")
        // One board read (the cap), and a TV set up on a new org's board before its first sale.
        let busy = stream(["points:all:reps"])
        _ = try busy.wait(for: "the busy board's snapshot") { $0.type == "snapshot" }
        let waiting = stream(org: "fresh", ["points:today:reps"])
        _ = try waiting.wait(for: "the empty snapshot") { $0.type == "snapshot" }

        // Its first sale: no place to read it, so the TV is told, not left on an empty board.
        try send("bo", "call", org: "fresh")
        try wait("the waiting TV to be closed") { waiting.closedWith != nil }
        #expect(waiting.closedWith?.code == 1013)
        #expect(waiting.closedWith?.reason.contains("boards") == true, "\(String(describing: waiting.closedWith))")
        #expect(busy.closedWith == nil)
    }

    @Test func subscriptionsToInventedBoardsAreBoundedInNumberToo() throws {
        // One board read at most: ten topics kept, with or without data; the rest refused.
        try restartNotification(["--max-boards", "1"])
        let topics = (0..<15).map { "invented-\($0)/points:today:reps" }
        let display = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: topics)
        defer { Task { await display.close() } }
        try wait("the refusals") { try metric("tally_refusals_total{reason=\"watched_boards\"}") == 5 }
        // The kept topics' snapshots may still be on their way when the count is read.
        let answered = { topics.filter { !display.messages(topic: $0).isEmpty }.count }
        try wait("ten snapshots") { answered() >= 10 }
        #expect(answered() == 10)
    }
}
