import Foundation
import TallyTesting
import Testing
import ZeroMQ

/// Contest transitions from the real tally-leaderboard reach displays on the org's `_events`
/// channel, with the winner at the end; a display that connects mid-contest learns of it.
@Suite(.serialized) final class ContestEventsTests: @unchecked Sendable {
    let stack: TallyStack
    let app: FieldApp
    let leaderboard: ChildProcess
    let leaderboardEndpoint = "tcp://127.0.0.1:\(freePort())"

    init() throws {
        stack = try TallyStack()
        try stack.startWithNotification()
        app = try FieldApp(stack.endpoint)
        let httpPort = freePort()
        leaderboard = try ChildProcess(
            try stack.binary("tally-leaderboard"),
            [
                "--zmq", leaderboardEndpoint, "--http-host", "127.0.0.1", "--http-port", String(httpPort),
                "--redis-url", stack.redis.url, "--admin-token", "tok", "--notify", "tcp://127.0.0.1:\(stack.notifyPort)",
            ],
            logFile: stack.directory.appendingPathComponent("leaderboard.log"))
        try wait("tally-leaderboard") { isListening(port: httpPort) }
        // PUB/SUB drops what is published before the connection is up: give the leaderboard's
        // announcer a moment to reach notification before the contest's first transition.
        Thread.sleep(forTimeInterval: 1)
    }

    deinit { leaderboard.signal(SIGKILL) }

    @Test func aContestStartAndItsWinnerReachDisplays() throws {
        let events = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: ["default/_events"])
        defer { Task { await events.close() } }
        Thread.sleep(forTimeInterval: 0.3)  // the subscription reaches notification

        // A 3-second door-knocking contest, starting now, no grace.
        let start = Date()
        let request = try JSONSerialization.data(withJSONObject: [
            "op": "contest.create", "token": "tok",
            "contest": [
                "id": "blitz", "name": "Door blitz", "metric": "doors", "starts_at": rfc3339(start),
                "ends_at": rfc3339(start.addingTimeInterval(3)), "grace_seconds": 0,
            ] as [String: Any],
        ])
        let socket = try Socket(.req, options: [.receiveTimeout(milliseconds: 5000), .linger(milliseconds: 0)])
        try socket.connect(leaderboardEndpoint)
        try socket.send(request)
        let created = try #require(try socket.receive()).first.map { String(decoding: $0, as: UTF8.self) } ?? ""
        #expect(created.contains(#""ok":true"#), "\(created)")

        let running = try events.wait(for: "the start", topic: "default/_events") { $0.type == "contest" && $0.state == "running" }
        #expect(running.contest == "blitz")
        // A display that connects now is told about the running contest (for its countdown).
        let display = StreamClient(url: "ws://127.0.0.1:\(stack.notificationHTTPPort)/v1/stream?board=contest:blitz")
        let replayed = try display.wait(for: "the running contest") { $0.type == "contest" }
        #expect(replayed.state == "running" && replayed.contest == "blitz")

        for (index, rep) in ["ana", "ana", "bo"].enumerated() {
            let reply = try app.request(eventJSON(id: "k\(index)", rep: rep, name: rep.capitalized, kind: "door_knock", at: rfc3339(Date())))
            #expect(reply?.results?.first?.status == "accepted")
        }
        _ = try display.wait(for: "the contest board") { $0.board == "contest:blitz" && $0.lines == ["ana=2", "bo=1"] }

        let final = try events.wait(for: "the winner", topic: "default/_events", seconds: 20) { $0.type == "contest" && $0.state == "final" }
        #expect(final.contest == "blitz")
        #expect(final.winners?.map(\.member) == ["ana"], "\(final)")
        _ = try display.wait(for: "the final on the stream") { $0.type == "contest" && $0.state == "final" }
    }

    @Test func aContestStateHeardTwiceReachesDisplaysOnce() throws {
        // What a scheduler that took over does when its predecessor died between sending a
        // state and storing it as sent: the same state again.
        let events = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: ["default/_events"])
        defer { Task { await events.close() } }
        let publisher = try Socket(.pub, options: [.linger(milliseconds: 1_000)])
        try publisher.connect("tcp://127.0.0.1:\(stack.notifyPort)")
        Thread.sleep(forTimeInterval: 0.5)  // both subscriptions reach their publishers
        func announce(_ state: String) throws {
            let json = #"{"type":"contest","org":"default","contest":"twice","name":"Twice","state":"\#(state)","board":"contest:twice","starts_at_ms":0,"ends_at_ms":1}"#
            _ = try publisher.send([Data("default".utf8), Data(json.utf8)])
        }
        // Twice each, and a late "ended" after the final (from a scheduler whose lease ran out).
        for state in ["running", "running", "ended", "ended", "final", "ended", "final"] { try announce(state) }
        _ = try events.wait(for: "the final", topic: "default/_events") { $0.type == "contest" && $0.state == "final" }
        Thread.sleep(forTimeInterval: 0.5)
        let heard = events.messages(topic: "default/_events").filter { $0.contest == "twice" }.map { $0.state ?? "" }
        #expect(heard == ["running", "ended", "final"])
    }
}
