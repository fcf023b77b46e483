import Foundation
import Redis
import TallyTesting
import Testing
import ZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// What an operator and tally-notification see of the services: change notices, start-up
/// errors, options from the environment.
@Suite(.serialized) struct ServiceBehaviourTests {
    let at = Date().addingTimeInterval(-60)

    @Test func scoringAnnouncesChangedBoardsAndDeals() throws {
        let stack = try TallyStack()
        // Notification's side: a SUB socket bound where scoring publishes.
        let sub = try Socket(.sub, options: [.subscribe(Data()), .receiveTimeout(milliseconds: 10_000)])
        try sub.bind("tcp://127.0.0.1:\(stack.notifyPort)")
        try stack.startIngestion()
        try stack.startWorker()
        let app = try FieldApp(stack.endpoint)

        // PUB/SUB drops what is published before the subscription is through: send until a
        // notice arrives, each time a new event.
        var frames: [Data]?
        for attempt in 0..<50 where frames == nil {
            let reply = try app.request(eventJSON(
                id: "deal-\(attempt)", rep: "ana", name: "Ana", team: "north", kind: "deal_won", value: 1200,
                at: rfc3339(at)))
            #expect(reply?.results?.first?.status == "accepted")
            try sub.set(.receiveTimeout(milliseconds: 200))
            frames = try sub.receive()
        }
        let notice = try #require(frames, "\(stack.logs)")
        #expect(String(decoding: notice[0], as: UTF8.self) == "default")
        let body = try #require(try JSONSerialization.jsonObject(with: notice[1]) as? [String: Any])
        #expect(body["type"] as? String == "changes")
        #expect(body["org"] as? String == "default")

        let today = Expected.periods(at)["today"]!
        let boards = (body["boards"] as? [[String: Any]] ?? []).map { "\($0["board"] as! String)@\($0["period"] as! String)" }
        #expect(boards.contains("points:today:reps@\(today)"))
        #expect(boards.contains("revenue:all:teams@all"))
        #expect(boards.contains("deals:7d:reps@\(today)"))
        // A deal adds to points, revenue and deals: 3 metrics × 6 calendar windows × 2 scopes,
        // plus the 7d and 30d boards that end today for each metric and scope.
        #expect(boards.count == 3 * 6 * 2 + 3 * 2 * 2)

        let deals = body["deals"] as? [[String: Any]] ?? []
        #expect(deals.count == 1)
        #expect(deals.first?["rep"] as? String == "ana")
        #expect(deals.first?["name"] as? String == "Ana")
        #expect(deals.first?["team"] as? String == "north")
        #expect(deals.first?["value"] as? Double == 1200)
    }

    @Test func aWrongRulesFileStopsScoringAtStartUp() throws {
        let stack = try TallyStack(rules: ["acme": "timezone: Europe/Berln"])
        let worker = try stack.startWorker()
        let status = worker.wait()
        #expect(status & 0x7f == 0 && (status >> 8) & 0xff != 0)
        #expect(worker.output.contains("acme.yaml: timezone: unknown time zone 'Europe/Berln'"), "\(worker.output)")
    }

    @Test func optionsComeFromTheEnvironmentToo() throws {
        let stack = try TallyStack()
        let port = freePort()
        let ingestion = try ChildProcess(
            try stack.binary("tally-ingestion"), [],
            environment: ["TALLY_FRONTEND": "tcp://127.0.0.1:\(port)", "TALLY_BACKEND": "tcp://127.0.0.1:\(freePort())"],
            logFile: stack.directory.appendingPathComponent("env-ingestion.log"))
        try wait("ingestion on the port from TALLY_FRONTEND") { isListening(port: port) }
        let app = try FieldApp("tcp://127.0.0.1:\(port)")
        #expect(try app.request(#"{"op":"ping"}"#)?.op == "pong")
        ingestion.signal(SIGTERM)
        #expect(ingestion.wait() == 0)

        // A bad value names the option.
        let bad = try ChildProcess(
            try stack.binary("tally-scoring"), [], environment: ["TALLY_REDIS_URL": "http://nope"],
            logFile: stack.directory.appendingPathComponent("env-scoring.log"))
        #expect(bad.wait() != 0)
        #expect(bad.output.contains("--redis-url: expected redis://"), "\(bad.output)")
        #expect(bad.output.contains("got 'http://nope'"), "\(bad.output)")
    }
}
