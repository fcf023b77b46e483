import Foundation
import TallyTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The `tally` command as an organizer uses it: `tally up`, then send, read, run a contest,
/// and Ctrl-C (SIGTERM) to stop everything.
@Suite(.serialized) struct CLITests {
    @Test func tallyUpRunsTheStackAndStopsItCleanly() throws {
        let stack = try TallyStack()  // for its binaries and scratch directory; its Redis is unused
        let ports = (
            redis: freePort(), ingestion: freePort(), workers: freePort(), notify: freePort(), zmq: freePort(), http: freePort(),
            displays: freePort(), tv: freePort())
        let arguments = [
            "up", "--data-dir", stack.directory.appendingPathComponent("data").path, "--redis-port", String(ports.redis),
            "--ingestion-port", String(ports.ingestion), "--worker-port", String(ports.workers),
            "--notify-port", String(ports.notify), "--leaderboard-port", String(ports.zmq),
            "--http-port", String(ports.http), "--displays-port", String(ports.displays), "--tv-port", String(ports.tv),
            "--scoring-workers", "2", "--admin-token", "tok",
        ]
        let up = try ChildProcess(try stack.binary("tally"), arguments, logFile: stack.directory.appendingPathComponent("up.log"))
        try wait("tally up to be ready", seconds: 60) { up.output.contains("[tally] ready") || !up.isRunning }
        #expect(up.isRunning, "\(up.output)")
        #expect(up.output.contains("TV page                     http://127.0.0.1:\(ports.tv)/tv?org=default&board=points:today:reps&token=tly_default_"))
        // Reads need a token: the TV page's address carries a viewer token of its own.
        let viewer = try #require(up.output.firstMatch(of: /&token=(tly_default_[A-Za-z0-9_-]{43})/).map { String($0.1) }, "\(up.output)")
        let page = try httpGet(port: ports.tv, "/tv?board=points:today:reps")
        #expect(page.status == 200 && page.body.contains("<html"), "the TV page is served")

        func tally(_ arguments: [String], stdin: String? = nil) throws -> (status: Int32, output: String) {
            let log = stack.directory.appendingPathComponent("tally-\(UUID()).log")
            let process = try ChildProcess(try stack.binary("tally"), arguments, logFile: log)
            let status = process.wait()
            return ((status >> 8) & 0xff, process.output)
        }
        let ingestion = "tcp://127.0.0.1:\(ports.ingestion)"
        let leaderboard = "tcp://127.0.0.1:\(ports.zmq)"
        // `tally up` keeps its keys there: send and simulate find the tools' field key by it.
        let dataDir = stack.directory.appendingPathComponent("data").path
        // The front door takes CURVE: a plain-text client gets nothing at all.
        let plain = try FieldApp(ingestion, timeout: 1_000)
        #expect(try plain.request(eventJSON(id: "p1", rep: "ana", kind: "call")) == nil)

        let sent = try tally(["send", "--ingestion", ingestion, "--data-dir", dataDir, "--id", "d1", "--rep", "ana", "--name", "Ana", "--kind", "deal_won", "--value", "1200"])
        #expect(sent.status == 0 && sent.output.contains("d1\taccepted"), "\(sent.output)")
        let second = try tally(["send", "--ingestion", ingestion, "--data-dir", dataDir, "--id", "c1", "--rep", "bo", "--kind", "demo"])
        #expect(second.output.contains("c1\taccepted"))
        let bad = try tally(["send", "--ingestion", ingestion, "--data-dir", dataDir, "--id", "b1", "--rep", "bo", "--kind", "dance"])
        #expect(bad.status == 2 && bad.output.contains("kind: unknown activity kind 'dance'"))

        // A live terminal board: the snapshot, then the update after Cy's two demos put her on top.
        let watchLog = stack.directory.appendingPathComponent("watch.log")
        let watch = try ChildProcess(
            try stack.binary("tally"),
            ["watch", "points:today:reps", "--displays", "tcp://127.0.0.1:\(ports.displays)", "--count", "2"], logFile: watchLog)
        try wait("the watch snapshot") { watch.output.contains("#1") || !watch.isRunning }
        _ = try tally(["send", "--ingestion", ingestion, "--data-dir", dataDir, "--id", "cy1", "--rep", "cy", "--name", "Cy", "--kind", "proposal"])
        _ = try tally(["send", "--ingestion", ingestion, "--data-dir", dataDir, "--id", "cy2", "--rep", "cy", "--name", "Cy", "--kind", "proposal"])
        try wait("the watch update") { !watch.isRunning }
        let frames = watch.output.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(watch.wait() == 0 && frames.count == 2, "\(watch.output)")
        let firstFrame = frames.first?.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") } ?? []
        let lastFrame = frames.last?.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") } ?? []
        #expect(firstFrame.dropFirst().prefix(2) == ["1 Ana 50", "2 bo 10"], "\(watch.output)")
        // A proposal is 15 points: Cy enters (★) past bo (10) but not Ana (50). The two events
        // make one update when they fall in one coalescing window (Cy 30), else the first is
        // the one watched (Cy 15).
        let cy = Array(lastFrame.dropFirst().prefix(3))
        #expect(cy == ["1 Ana 50", "2 ★ Cy 30", "3 ▼ bo 10"] || cy == ["1 Ana 50", "2 ★ Cy 15", "3 ▼ bo 10"], "\(watch.output)")

        let closed = try tally(["top", "points:today:reps", "--leaderboard", leaderboard])
        #expect(closed.status != 0 && closed.output.contains("token: is required"), "\(closed.output)")
        let top = try tally(["top", "points:today:reps", "--leaderboard", leaderboard, "--token", viewer])
        let lines = top.output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines.contains("1 Ana 50"), "\(top.output)")
        #expect(lines.contains("2 Cy 30"), "\(top.output)")
        #expect(lines.contains("3 bo 10"), "\(top.output)")

        let created = try tally(["contest", "create", "--leaderboard", leaderboard, "--admin-token", "tok", "--id", "blitz",
                                 "--name", "Blitz", "--metric", "doors", "--starts", "+1h", "--ends", "+2d"])
        #expect(created.status == 0 && created.output.contains("Blitz (blitz): scheduled"), "\(created.output)")
        let refused = try tally(["contest", "create", "--leaderboard", leaderboard, "--id", "x", "--name", "X", "--metric", "doors", "--starts", "now", "--ends", "+1d"])
        #expect(refused.status != 0 && refused.output.contains("admin token"), "\(refused.output)")
        let list = try tally(["contest", "list", "--leaderboard", leaderboard, "--token", viewer])
        #expect(list.output.contains("blitz\tscheduled"), "\(list.output)")

        // A simulated floor for two seconds: every event it sends is accepted.
        let simulated = try tally(["simulate", "--ingestion", ingestion, "--data-dir", dataDir, "--reps", "12", "--teams", "3", "--rate", "100", "--duration", "2"])
        #expect(simulated.status == 0, "\(simulated.output)")
        let summary = try #require(simulated.output.split(separator: "\n").last.map(String.init))
        let simulatedSent = summary.firstMatch(of: /sent (\d+)/).map { Int($0.1)! }
        let accepted = summary.firstMatch(of: /accepted (\d+)/).map { Int($0.1)! }
        #expect(simulatedSent != nil && simulatedSent! >= 100 && simulatedSent == accepted, "\(summary)")
        #expect(summary.contains("rejected 0"))
        let teams = try tally(["top", "points:today:teams", "--leaderboard", leaderboard, "--token", viewer])
        #expect(teams.output.contains("3 on the board"), "\(teams.output)")

        // Tokens and field keys from the command line: the admin makes an organizer token, which
        // runs a contest and registers a field key, and is refused once revoked.
        let minted = try tally(["token", "create", "--leaderboard", leaderboard, "--admin-token", "tok", "--role", "organizer", "--name", "Floor manager"])
        #expect(minted.status == 0, "\(minted.output)")
        let organizer = try #require(minted.output.split(separator: "\n").last.map(String.init))
        let organizerID = try #require(minted.output.firstMatch(of: /created (tk-[0-9a-f]+) \(organizer, Floor manager\)/).map { String($0.1) }, "\(minted.output)")
        #expect(organizer.hasPrefix("tly_default_"))
        let tokens = try tally(["token", "list", "--leaderboard", leaderboard, "--admin-token", "tok"])
        #expect(tokens.output.contains("\(organizerID)\torganizer\t") && tokens.output.contains("tally up TV page"), "\(tokens.output)")
        #expect(!tokens.output.contains(organizer) && !tokens.output.contains(viewer))
        let byOrganizer = try tally(["contest", "create", "--leaderboard", leaderboard, "--token", organizer, "--id", "sprint",
                                     "--name", "Sprint", "--metric", "doors", "--starts", "+1h", "--ends", "+1d"])
        #expect(byOrganizer.status == 0 && byOrganizer.output.contains("Sprint (sprint): scheduled"), "\(byOrganizer.output)")
        let notMinted = try tally(["token", "create", "--leaderboard", leaderboard, "--token", organizer, "--role", "viewer", "--name", "x"])
        #expect(notMinted.status != 0 && notMinted.output.contains("token: managing tokens needs the admin token"), "\(notMinted.output)")

        let pair = try tally(["keys"])
        let publicKey = try #require(pair.output.firstMatch(of: /public: (\S{40})/).map { String($0.1) }, "\(pair.output)")
        let added = try tally(["field-key", "add", "--leaderboard", leaderboard, "--token", organizer, "--public-key=\(publicKey)", "--name", "Tablets"])
        let keyID = try #require(added.output.firstMatch(of: /registered (fk-[0-9a-f]+) \(Tablets\)/).map { String($0.1) }, "\(added.output)")
        #expect(try tally(["field-key", "list", "--leaderboard", leaderboard, "--token", organizer]).output.contains("\(keyID)\t"))
        #expect(try tally(["field-key", "revoke", keyID, "--leaderboard", leaderboard, "--token", organizer]).output.contains("revoked \(keyID)"))
        // What is left is the key `tally up` registered for this machine's own tools.
        let left = try tally(["field-key", "list", "--leaderboard", leaderboard, "--token", organizer]).output
        #expect(!left.contains(keyID) && left.contains("this machine's tools (tally up)"), "\(left)")

        #expect(try tally(["token", "revoke", organizerID, "--leaderboard", leaderboard, "--admin-token", "tok"]).output.contains("revoked \(organizerID)"))
        let revoked = try tally(["top", "points:today:reps", "--leaderboard", leaderboard, "--token", organizer])
        #expect(revoked.status != 0 && revoked.output.contains("token: not a valid token (unknown or revoked)"), "\(revoked.output)")

        up.signal(SIGTERM)
        #expect(up.wait() == 0, "\(up.output)")
        #expect(up.output.contains("[tally] stopped"))

        // Started again on the same data: the same TV token, not a new one each time.
        let again = try ChildProcess(try stack.binary("tally"), arguments, logFile: stack.directory.appendingPathComponent("up-again.log"))
        try wait("tally up to be ready again", seconds: 60) { again.output.contains("[tally] ready") || !again.isRunning }
        #expect(again.output.firstMatch(of: /&token=(tly_default_[A-Za-z0-9_-]{43})/).map { String($0.1) } == viewer, "\(again.output)")
        #expect(!again.output.contains("made a viewer token"))
        again.signal(SIGTERM)
        #expect(again.wait() == 0, "\(again.output)")
        for port in [ports.redis, ports.ingestion, ports.workers, ports.notify, ports.zmq, ports.http, ports.displays, ports.tv] {
            #expect(!isListening(port: port), "port \(port) still open")
        }
    }
}

@Suite(.serialized) struct DemoTests {
    @Test func tallyUpDemoFillsTheBoardsAndRunsAContest() throws {
        let stack = try TallyStack()
        let ports = (
            redis: freePort(), ingestion: freePort(), workers: freePort(), notify: freePort(), zmq: freePort(), http: freePort(),
            displays: freePort(), tv: freePort())
        let up = try ChildProcess(
            try stack.binary("tally"),
            [
                "up", "--demo", "--data-dir", stack.directory.appendingPathComponent("data").path,
                "--redis-port", String(ports.redis), "--ingestion-port", String(ports.ingestion),
                "--worker-port", String(ports.workers), "--notify-port", String(ports.notify),
                "--leaderboard-port", String(ports.zmq), "--http-port", String(ports.http),
                "--displays-port", String(ports.displays), "--tv-port", String(ports.tv),
            ],
            logFile: stack.directory.appendingPathComponent("demo.log"))
        try wait("tally up --demo to be ready", seconds: 60) { up.output.contains("[tally] ready") || !up.isRunning }
        let leaderboard = "tcp://127.0.0.1:\(ports.zmq)"
        func tally(_ arguments: [String]) throws -> String {
            let process = try ChildProcess(try stack.binary("tally"), arguments, logFile: stack.directory.appendingPathComponent("t-\(UUID()).log"))
            process.wait()
            return process.output
        }
        // About eight activities a second from forty reps: within a few seconds the boards fill.
        try wait("the demo's reps on the board", seconds: 20) {
            let top = try tally(["top", "points:today:reps", "--leaderboard", leaderboard])
            return (top.firstMatch(of: /(\d+) on the board/).map { Int($0.1)! } ?? 0) >= 10
        }
        // Given no admin token, tally up made one and keeps it under its data directory, where
        // the CLI can read it (TALLY_ADMIN_TOKEN_FILE) to register a field key.
        let kept = stack.directory.appendingPathComponent("data/admin-token").path
        #expect(up.output.contains("admin token                 in \(kept)"), "\(up.output)")
        let withKept = try ChildProcess(
            try stack.binary("tally"), ["field-key", "add", "--leaderboard", leaderboard, "--public-key", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", "--name", "Lobby"],
            environment: ["TALLY_ADMIN_TOKEN_FILE": kept], logFile: stack.directory.appendingPathComponent("kept.log"))
        #expect(withKept.wait() == 0 && withKept.output.contains("registered fk-"), "\(withKept.output)")
        let contests = try tally(["contest", "list", "--leaderboard", leaderboard])
        #expect(contests.contains("running") && contests.contains("Demo Door Blitz"), "\(contests)")

        // The TV page `tally up` printed, in a real browser: the demo's reps, and the running
        // contest's countdown.
        let url = try #require(up.output.firstMatch(of: /TV page\s+(\S+)/).map { String($0.1) }, "\(up.output)")
        let browser = try Browser(width: 1920, height: 1080)
        try browser.open(url)
        try wait("reps on the TV page", seconds: 20) { try browser.texts(".row .name").count >= 10 }
        try wait("the contest countdown", seconds: 20) { try browser.texts("#countdown").first?.contains("Demo Door Blitz ends in") == true }
        try browser.screenshot(to: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/screenshots/demo-1920x1080.png"))
        #expect(browser.errors == [], "\(browser.errors)")
        up.signal(SIGTERM)
        #expect(up.wait() == 0, "\(up.output)")
    }
}
