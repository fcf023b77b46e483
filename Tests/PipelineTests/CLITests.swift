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
        let ports = (redis: freePort(), ingestion: freePort(), workers: freePort(), notify: freePort(), zmq: freePort(), http: freePort())
        let up = try ChildProcess(
            try stack.binary("tally"),
            [
                "up", "--data-dir", stack.directory.appendingPathComponent("data").path, "--redis-port", String(ports.redis),
                "--ingestion-port", String(ports.ingestion), "--worker-port", String(ports.workers),
                "--notify-port", String(ports.notify), "--leaderboard-port", String(ports.zmq),
                "--http-port", String(ports.http), "--scoring-workers", "2", "--admin-token", "tok",
            ],
            logFile: stack.directory.appendingPathComponent("up.log"))
        try wait("tally up to be ready", seconds: 60) { up.output.contains("[tally] ready") || !up.isRunning }
        #expect(up.isRunning, "\(up.output)")

        func tally(_ arguments: [String], stdin: String? = nil) throws -> (status: Int32, output: String) {
            let log = stack.directory.appendingPathComponent("tally-\(UUID()).log")
            let process = try ChildProcess(try stack.binary("tally"), arguments, logFile: log)
            let status = process.wait()
            return ((status >> 8) & 0xff, process.output)
        }
        let ingestion = "tcp://127.0.0.1:\(ports.ingestion)"
        let leaderboard = "tcp://127.0.0.1:\(ports.zmq)"

        let sent = try tally(["send", "--ingestion", ingestion, "--id", "d1", "--rep", "ana", "--name", "Ana", "--kind", "deal_won", "--value", "1200"])
        #expect(sent.status == 0 && sent.output.contains("d1\taccepted"), "\(sent.output)")
        let second = try tally(["send", "--ingestion", ingestion, "--id", "c1", "--rep", "bo", "--kind", "demo"])
        #expect(second.output.contains("c1\taccepted"))
        let bad = try tally(["send", "--ingestion", ingestion, "--id", "b1", "--rep", "bo", "--kind", "dance"])
        #expect(bad.status == 2 && bad.output.contains("kind: unknown activity kind 'dance'"))

        let top = try tally(["top", "points:today:reps", "--leaderboard", leaderboard])
        let lines = top.output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines.contains("1 Ana 50"), "\(top.output)")
        #expect(lines.contains("2 bo 10"), "\(top.output)")

        let created = try tally(["contest", "create", "--leaderboard", leaderboard, "--admin-token", "tok", "--id", "blitz",
                                 "--name", "Blitz", "--metric", "doors", "--starts", "+1h", "--ends", "+2d"])
        #expect(created.status == 0 && created.output.contains("Blitz (blitz): scheduled"), "\(created.output)")
        let refused = try tally(["contest", "create", "--leaderboard", leaderboard, "--id", "x", "--name", "X", "--metric", "doors", "--starts", "now", "--ends", "+1d"])
        #expect(refused.status != 0 && refused.output.contains("admin token"), "\(refused.output)")
        let list = try tally(["contest", "list", "--leaderboard", leaderboard])
        #expect(list.output.contains("blitz\tscheduled"), "\(list.output)")

        // A simulated floor for two seconds: every event it sends is accepted.
        let simulated = try tally(["simulate", "--ingestion", ingestion, "--reps", "12", "--teams", "3", "--rate", "100", "--duration", "2"])
        #expect(simulated.status == 0, "\(simulated.output)")
        let summary = try #require(simulated.output.split(separator: "\n").last.map(String.init))
        let simulatedSent = summary.firstMatch(of: /sent (\d+)/).map { Int($0.1)! }
        let accepted = summary.firstMatch(of: /accepted (\d+)/).map { Int($0.1)! }
        #expect(simulatedSent != nil && simulatedSent! >= 100 && simulatedSent == accepted, "\(summary)")
        #expect(summary.contains("rejected 0"))
        let teams = try tally(["top", "points:today:teams", "--leaderboard", leaderboard])
        #expect(teams.output.contains("3 on the board"), "\(teams.output)")

        up.signal(SIGTERM)
        #expect(up.wait() == 0, "\(up.output)")
        #expect(up.output.contains("[tally] stopped"))
        for port in [ports.redis, ports.ingestion, ports.workers, ports.zmq, ports.http] {
            #expect(!isListening(port: port), "port \(port) still open")
        }
    }
}

@Suite(.serialized) struct DemoTests {
    @Test func tallyUpDemoFillsTheBoardsAndRunsAContest() throws {
        let stack = try TallyStack()
        let ports = (redis: freePort(), ingestion: freePort(), workers: freePort(), notify: freePort(), zmq: freePort(), http: freePort())
        let up = try ChildProcess(
            try stack.binary("tally"),
            [
                "up", "--demo", "--data-dir", stack.directory.appendingPathComponent("data").path,
                "--redis-port", String(ports.redis), "--ingestion-port", String(ports.ingestion),
                "--worker-port", String(ports.workers), "--notify-port", String(ports.notify),
                "--leaderboard-port", String(ports.zmq), "--http-port", String(ports.http),
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
        let contests = try tally(["contest", "list", "--leaderboard", leaderboard])
        #expect(contests.contains("running") && contests.contains("Demo Door Blitz"), "\(contests)")
        up.signal(SIGTERM)
        #expect(up.wait() == 0, "\(up.output)")
    }
}
