import Foundation
import TallyTesting
import Testing

/// `tally quota import` and `tally quota list` against the real tally-leaderboard.
// `@unchecked Sendable`: each test gets its own instance and drives it from one task.
@Suite(.serialized) final class QuotaCLITests: @unchecked Sendable {
    let stack: TallyStack

    init() throws {
        stack = try TallyStack(openReads: false, adminToken: "tok")
        try stack.startLeaderboard()
    }

    func tally(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = try ChildProcess(
            try stack.binary("tally"), arguments + ["--leaderboard", stack.services.leaderboardEndpoint],
            logFile: stack.directory.appendingPathComponent("tally-\(UUID()).log"))
        let status = process.wait()
        return ((status >> 8) & 0xff, process.output)
    }

    func file(_ name: String, _ text: String) throws -> String {
        let url = stack.directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func list() throws -> String {
        try tally(["quota", "list", "--org", "acme", "--admin-token", "tok"]).output
    }

    @Test func aSpreadsheetOfQuotasIsImportedAllOrNothingAndListedBack() throws {
        // Columns in the spreadsheet's own order, CRLF rows, a quoted cell, a blank line, a
        // default and a December override for ana.
        let december = try file("december.csv", [
            "member,target,metric,window,scope,period",
            "ana,20000,revenue,month,reps,",
            "ana,30000,revenue,month,reps,2026-12",
            "",
            "\"north\",90000.5,revenue,month,teams,",
        ].joined(separator: "\r\n") + "\r\n")
        let imported = try tally(["quota", "import", december, "--org", "acme", "--admin-token", "tok"])
        #expect(imported.status == 0, "\(imported.output)")
        #expect(imported.output == "saved 3 quotas in org acme\n", "\(imported.output)")
        let listed = """
            metric,window,scope,member,period,target
            revenue,month,reps,ana,,20000
            revenue,month,reps,ana,2026-12,30000
            revenue,month,teams,north,,90000.5

            """
        #expect(try list() == listed)
        let filtered = try tally(["quota", "list", "--org", "acme", "--scope", "teams", "--admin-token", "tok"])
        #expect(filtered.output == "metric,window,scope,member,period,target\nrevenue,month,teams,north,,90000.5\n", "\(filtered.output)")

        // A file with one bad row saves nothing, and names that row's line and column: the
        // leaderboard's `quotas[2].metric` is line 5 (the header is line 1, line 3 is blank).
        let wrongMetric = try file("wrong-metric.csv", """
            metric,window,scope,member,target
            deals,week,reps,bo,3

            deals,week,reps,cy,4
            wins,week,reps,di,5
            """)
        let refused = try tally(["quota", "import", wrongMetric, "--org", "acme", "--admin-token", "tok"])
        #expect(refused.status != 0)
        #expect(refused.output.contains("wrong-metric.csv: line 5, column metric: unknown metric 'wins'"), "\(refused.output)")
        let repeated = try file("repeated.csv", "metric,window,scope,member,target\ndeals,week,reps,bo,3\ndeals,week,reps,bo,4\n")
        let twice = try tally(["quota", "import", repeated, "--org", "acme", "--admin-token", "tok"])
        #expect(twice.output.contains("line 3: the same metric, window, scope, member and period as line 2"), "\(twice.output)")
        let badTarget = try file("bad-target.csv", "metric,window,scope,member,target\ndeals,week,reps,bo,3\ndeals,week,reps,cy,lots\n")
        let notANumber = try tally(["quota", "import", badTarget, "--org", "acme", "--admin-token", "tok"])
        #expect(notANumber.output.contains("line 3, column target: must be a number > 0, got 'lots'"), "\(notANumber.output)")
        let shortRow = try file("short.csv", "metric,window,scope,member,target\ndeals,week,reps,bo\n")
        #expect(try tally(["quota", "import", shortRow, "--org", "acme", "--admin-token", "tok"]).output
            .contains("line 2: has 4 cells where the header names 5 columns"))
        let noTarget = try file("no-target.csv", "metric,window,scope,member\ndeals,week,reps,bo\n")
        #expect(try tally(["quota", "import", noTarget, "--org", "acme", "--admin-token", "tok"]).output
            .contains("line 1: the header names no column target"))
        let typo = try file("typo.csv", "metric,window,scope,member,target,perod\ndeals,week,reps,bo,3,2026-W49\n")
        #expect(try tally(["quota", "import", typo, "--org", "acme", "--admin-token", "tok"]).output
            .contains("line 1: unknown column 'perod'"))
        #expect(try list() == listed)

        // A viewer may list but not import.
        let (_, minted) = try httpRequest(
            port: stack.leaderboardHTTPPort, "POST", "/v1/orgs/acme/tokens", token: "tok", body: #"{"role": "viewer", "name": "TV"}"#)
        let viewer = try #require((try JSONSerialization.jsonObject(with: Data(minted.utf8)) as? [String: Any])?["token"] as? String)
        let byViewer = try tally(["quota", "import", december, "--org", "acme", "--token", viewer])
        #expect(byViewer.status != 0 && byViewer.output.contains("token: a viewer token may only read"), "\(byViewer.output)")
        #expect(try tally(["quota", "list", "--org", "acme", "--token", viewer]).output == listed)
    }

    @Test func topOfAnAttainmentBoardShowsPercentages() throws {
        try stack.startIngestion()
        try stack.startWorker()
        // This month's quotas from a spreadsheet, then the deals: ana 7,500 of 10,000 (75%),
        // bo 2,900 of 10,000 (29%, not 28 from 0.29 × 100 in floating point), cy 4,000 of
        // 4,000 (100%).
        let quotas = try file("quotas.csv", """
            metric,window,scope,member,target
            revenue,month,reps,ana,10000
            revenue,month,reps,bo,10000
            revenue,month,reps,cy,4000

            """)
        #expect(try tally(["quota", "import", quotas, "--org", "acme", "--admin-token", "tok"]).status == 0)
        let app = try FieldApp(stack.endpoint)
        for (id, rep, value) in [("a", "ana", 7500.0), ("b", "bo", 2900), ("c", "cy", 4000)] {
            let status = try app.request(eventJSON(id: id, org: "acme", rep: rep, kind: "deal_won", value: value))?.results?.first?.status
            #expect(status == "accepted")
        }
        let top = try tally(["top", "attainment:revenue:month:reps", "--org", "acme", "--admin-token", "tok"])
        #expect(top.status == 0, "\(top.output)")
        let rows = top.output.split(separator: "\n").dropFirst().map { $0.split(separator: " ").joined(separator: " ") }
        #expect(rows == ["1 cy 100% 4000 of 4000", "2 ana 75% 7500 of 10000", "3 bo 29% 2900 of 10000"], "\(top.output)")
        // The metric's own board shows the same beside each score.
        let revenue = try tally(["top", "revenue:month:reps", "--org", "acme", "--admin-token", "tok"])
        let revenueRows = revenue.output.split(separator: "\n").dropFirst().map { $0.split(separator: " ").joined(separator: " ") }
        #expect(revenueRows == ["1 ana 75% 7500 of 10000", "2 cy 100% 4000 of 4000", "3 bo 29% 2900 of 10000"], "\(revenue.output)")
    }
}
