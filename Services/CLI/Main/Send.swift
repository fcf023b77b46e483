import ArgumentParser
import Foundation
import TallyService

struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send activities: one from flags, or JSON events (one per line) from standard input.",
        discussion: """
            tally send --rep ana --kind deal_won --value 12500
            echo '{"id":"e1","rep":"ana","kind":"call"}' | tally send --stdin
            """)

    @Option(help: "tally-ingestion's endpoint.") var ingestion = Environment.string("ingestion", default: "tcp://127.0.0.1:5555")
    @Flag(help: "Read JSON events, one per line, from standard input.") var stdin = false
    @Option(help: "Event id (default: a new UUID).") var id: String?
    @Option(help: "Organization.") var org: String?
    @Option(help: "Rep id.") var rep: String?
    @Option(help: "Rep's display name.") var name: String?
    @Option(help: "Rep's team.") var team: String?
    @Option(help: "Activity kind, e.g. door_knock, call, demo, deal_won.") var kind: String?
    @Option(help: "Value (a deal's amount).") var value: Double?
    @Option(help: "When it happened (RFC 3339); default now.") var at: String?
    @OptionGroup var keys: FieldAppKeys

    func run() throws {
        var events: [[String: Any]] = []
        if stdin {
            while let line = readLine() {
                guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
                guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw ValidationError("line \(events.count + 1) of standard input is not a JSON object")
                }
                events.append(event)
            }
        } else {
            guard let rep, let kind else { throw ValidationError("give --rep and --kind (or --stdin)") }
            var event: [String: Any] = ["id": id ?? UUID().uuidString, "rep": rep, "kind": kind]
            event["org"] = org
            event["rep_name"] = name
            event["team"] = team
            event["value"] = value
            event["at"] = at
            events.append(event)
        }
        let client = Client(endpoint: ingestion, options: try keys.socketOptions())
        var failed = false
        for start in stride(from: 0, to: events.count, by: 1_000) {
            let batch = Array(events[start..<min(start + 1_000, events.count)])
            let reply = try client.require(["events": batch])
            for result in reply["results"] as? [[String: Any]] ?? [] {
                let status = result["status"] as? String ?? "?"
                failed = failed || status == "rejected"
                print("\(result["id"] as? String ?? "-")\t\(status)\(result["error"].map { "\t\($0)" } ?? "")")
            }
        }
        if failed { throw ExitCode(2) }
    }
}
