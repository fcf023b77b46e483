import Foundation
import TallyTesting
import Testing

/// `tally event show|retract|amend` and `tally activity [--follow]` against the real stack.
// `@unchecked Sendable`: each test gets its own instance and drives it from one task.
@Suite(.serialized) final class EventCLITests: @unchecked Sendable {
    let stack: TallyStack
    let app: FieldApp

    init() throws {
        stack = try TallyStack(adminToken: "tok")
        try stack.startIngestion()
        try stack.startWorker()
        try stack.startLeaderboard()
        app = try FieldApp(stack.endpoint)
    }

    func tally(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = try ChildProcess(
            try stack.binary("tally"), arguments + ["--leaderboard", stack.services.leaderboardEndpoint],
            logFile: stack.directory.appendingPathComponent("tally-\(UUID()).log"))
        let status = process.wait()
        return ((status >> 8) & 0xff, process.output)
    }

    func send(_ id: String, _ rep: String, _ kind: String, value: Double? = nil) throws {
        let reply = try app.request(eventJSON(id: id, rep: rep, name: rep.capitalized, kind: kind, value: value, at: rfc3339(Date())))
        #expect(reply?.results?.first?.status == "accepted")
    }

    @Test func anOrganizerShowsAmendsAndRetractsAnEventAndFollowsTheLog() throws {
        try send("d1", "ana", "deal_won", value: 900)
        try send("m1", "bo", "demo")

        let shown = try tally(["event", "show", "d1"])
        #expect(shown.status == 0 && shown.output.contains("\td1\taccepted\tAna (ana)\tdeal_won\t900\t"), "\(shown.output)")
        let amended = try tally(["event", "amend", "d1", "--value", "1200", "--admin-token", "tok"])
        #expect(amended.status == 0 && amended.output.contains("\td1\tamended\tAna (ana)\tdeal_won\t1200\t"), "\(amended.output)")
        let history = try tally(["event", "show", "d1"])
        #expect(history.output.contains("\tamended by admin (value)"), "\(history.output)")
        let nothing = try tally(["event", "amend", "d1", "--admin-token", "tok"])
        #expect(nothing.status != 0 && nothing.output.contains("give at least one of --value"), "\(nothing.output)")

        // The log, oldest of the page first; filtered by rep.
        let listed = try tally(["activity"])
        let ids = listed.output.split(separator: "\n").map { $0.split(separator: "\t")[1] }
        #expect(ids == ["d1", "m1"], "\(listed.output)")
        #expect(try tally(["activity", "--rep", "bo"]).output.split(separator: "\n").count == 1)

        // Following: a new event and a retraction show up as they happen.
        let follow = try ChildProcess(
            try stack.binary("tally"), ["activity", "--follow", "--interval", "0.3", "--leaderboard", stack.services.leaderboardEndpoint],
            logFile: stack.directory.appendingPathComponent("follow.log"))
        defer { follow.signal(SIGKILL) }
        try wait("the first page") { follow.output.contains("\tm1\t") }
        try send("c1", "cy", "call")
        try wait("the new event") { follow.output.contains("\tc1\taccepted\tCy (cy)\tcall\t") }
        let retracted = try tally(["event", "retract", "m1", "--admin-token", "tok"])
        #expect(retracted.status == 0 && retracted.output == "m1\tretracted\n", "\(retracted.output)")
        try wait("the retraction") { follow.output.contains("\tm1\tretracted\t") }

        // A viewer's token may not correct; an unknown id says so.
        let refused = try tally(["event", "retract", "c1"])
        #expect(refused.status != 0 && refused.output.contains("token:"), "\(refused.output)")
        let unknown = try tally(["event", "show", "nope"])
        #expect(unknown.status != 0 && unknown.output.contains("id: no event 'nope'"), "\(unknown.output)")
    }
}
