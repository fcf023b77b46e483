import Foundation
import Redis
import TallyTesting
import Testing

/// The contest scheduler against the real processes: two tally-leaderboard processes on one
/// Redis, as an operator runs them for availability, one scheduler at a time, and when its
/// holder dies mid-contest the other takes over, with every state announced once; and orgs it
/// cannot read do not stop it announcing the others'.
@Suite struct ContestTakeoverTests {
    @Test func theSchedulersHolderKilledMidContestTheFinalIsAnnouncedOnceWithItsWinner() throws {
        let stack = try TallyStack(adminToken: "s3cret")
        try stack.startWithNotification()
        try stack.startLeaderboard()
        let second = try stack.startAnotherLeaderboard()
        let display = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: ["default/_events"])
        defer { Task { await display.close() } }
        let redis = try RedisConnection(url: stack.redis.url)

        // One of the two holds the lease.
        var holder = ""
        try wait("a leaderboard to hold the scheduler's lease") {
            holder = try redis.send("GET", "tally:contest-scheduler").string ?? ""
            return !holder.isEmpty
        }
        let first = stack.leaderboard!
        let pids = holder.split(separator: "/").dropFirst().first.flatMap { Int32($0) }
        #expect(pids == first.pid || pids == second.process.pid, "the holder \(holder) is one of the two")

        // A contest running now, ending in 6 s with one second's grace; ana is ahead.
        let definition = """
            {"id": "blitz", "name": "Blitz", "metric": "points", "starts_at": "\(rfc3339(Date().addingTimeInterval(-1)))",
             "ends_at": "\(rfc3339(Date().addingTimeInterval(6)))", "grace_seconds": 1}
            """
        let created = try httpRequest(port: stack.leaderboardHTTPPort, "POST", "/v1/orgs/default/contests", token: "s3cret", body: definition)
        #expect(created.status == 201, "\(created.body)")
        let app = try FieldApp(stack.endpoint)
        for (id, rep, kind) in [("t1", "ana", "demo"), ("t2", "ben", "call"), ("t3", "ana", "call")] {
            #expect(try app.request(eventJSON(id: id, rep: rep, kind: kind))?.results?.map(\.status) == ["accepted"])
        }
        _ = try display.wait(for: "the contest running", topic: "default/_events") { $0.type == "contest" && $0.state == "running" }

        // The holder dies; the other leaderboard takes the lease and ends the contest.
        let (killed, survivor) = pids == first.pid ? (first, second.process) : (second.process, first)
        killed.signal(SIGKILL)
        try wait("the other leaderboard to take the lease", seconds: 10) {
            let now = try redis.send("GET", "tally:contest-scheduler").string ?? ""
            return !now.isEmpty && now != holder
        }
        #expect(try redis.send("GET", "tally:contest-scheduler").string?.contains("/\(survivor.pid)/") == true)
        let final = try display.wait(for: "the final", topic: "default/_events", seconds: 20) { $0.type == "contest" && $0.state == "final" }
        #expect(final.winners?.map(\.member) == ["ana"])
        #expect(final.winners?.map { Int($0.score) } == [11], "a demo (10) and a call (1)")

        // A moment for any second announcement to arrive: each state once, in order.
        Thread.sleep(forTimeInterval: 1)
        let states = display.messages(topic: "default/_events").filter { $0.type == "contest" }.map { $0.state ?? "" }
        #expect(states == ["running", "ended", "final"], "\(stack.logs.suffix(2_000))")
    }

    @Test func orgsWhoseContestsCannotBeReadDoNotHoldUpAnotherOrgsAnnouncements() throws {
        let stack = try TallyStack(adminToken: "s3cret")
        try stack.startWithNotification()
        try stack.startLeaderboard()
        let display = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: ["default/_events"])
        defer { Task { await display.close() } }
        let redis = try RedisConnection(url: stack.redis.url)
        func contest(_ id: String, startsIn seconds: Double) -> String {
            """
            {"id": "\(id)", "name": "\(id)", "metric": "points", "starts_at": "\(rfc3339(Date().addingTimeInterval(seconds)))",
             "ends_at": "\(rfc3339(Date().addingTimeInterval(600)))"}
            """
        }
        // Five orgs with a contest each, whose announced states are then made unreadable.
        for org in (1...5).map({ "broken\($0)" }) {
            let created = try httpRequest(port: stack.leaderboardHTTPPort, "POST", "/v1/orgs/\(org)/contests", token: "s3cret", body: contest("c", startsIn: 300))
            #expect(created.status == 201, "\(created.body)")
            try redis.send("DEL", "{\(org)}:contests-announced")
            try redis.send("SET", "{\(org)}:contests-announced", "not a hash")
        }
        // Default's contest starts in a second: its start is announced all the same.
        let created = try httpRequest(port: stack.leaderboardHTTPPort, "POST", "/v1/orgs/default/contests", token: "s3cret", body: contest("fine", startsIn: 1))
        #expect(created.status == 201, "\(created.body)")
        let running = try display.wait(for: "default's contest running", topic: "default/_events", seconds: 15) {
            $0.type == "contest" && $0.state == "running"
        }
        #expect(running.contest == "fine")
    }
}
