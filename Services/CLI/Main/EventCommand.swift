import ArgumentParser
import Foundation

struct EventCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "event", abstract: "Show, retract or amend one event of the activity log (retract and amend: an organizer's).",
        discussion: """
            tally event show d-1042 --token $VIEWER
            tally event amend d-1042 --value 1200 --rep ana --token $ORGANIZER
            tally event retract d-1042 --token $ORGANIZER
            A correction takes back everything the event added (every board and period, its
            team, contests not yet final) in one step; the id stays used.
            """,
        subcommands: [Show.self, Retract.self, Amend.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an event as now recorded, with its history.")
        @OptionGroup var connection: LeaderboardOptions
        @Argument(help: "The event's id.") var id: String

        func run() throws {
            printEvent(try connection.ask("event.get", ["id": id]), history: true)
        }
    }

    struct Retract: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take an event back from everything it counted for.")
        @OptionGroup var connection: LeaderboardOptions
        @Argument(help: "The event's id.") var id: String

        func run() throws {
            let answer = try connection.ask("event.retract", ["id": id])
            write("\(answer["id"] ?? id)\t\(answer["status"] ?? "")\n")
        }
    }

    struct Amend: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an event's value, kind, rep or team, everywhere it counted.")
        @OptionGroup var connection: LeaderboardOptions
        @Argument(help: "The event's id.") var id: String
        @Option(help: "The value (a deal's amount).") var value: Double?
        @Option(help: "The activity kind.") var kind: String?
        @Option(help: "The rep it was.") var rep: String?
        @Option(help: "The rep's team at the time (\"\" for none).") var team: String?

        func validate() throws {
            if value == nil && kind == nil && rep == nil && team == nil {
                throw ValidationError("give at least one of --value, --kind, --rep, --team")
            }
        }

        func run() throws {
            var changes: [String: Any] = [:]
            changes["value"] = value
            changes["kind"] = kind
            changes["rep"] = rep
            changes["team"] = team
            printEvent(try connection.ask("event.amend", ["id": id, "changes": changes]), history: false)
        }
    }
}

struct Activity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the activity log, newest first; with --follow, keep printing what comes in.",
        discussion: "tally activity --rep ana --token $VIEWER\ntally activity --follow --kind deal_won")

    @OptionGroup var connection: LeaderboardOptions
    @Option(help: "Only this rep's events.") var rep: String?
    @Option(help: "Only events of this kind.") var kind: String?
    @Option(help: "How many (1 to 200).") var limit = 20
    @Flag(help: "Keep printing new events and corrections (oldest first) until interrupted.") var follow = false
    @Option(help: "With --follow: seconds between looks.") var interval = 1.0

    func validate() throws {
        guard interval >= 0.1, interval <= 3_600 else { throw ValidationError("--interval: must be 0.1 to 3600 seconds, got \(interval)") }
    }

    func run() throws {
        var fields: [String: Any] = ["limit": limit]
        fields["rep"] = rep
        fields["kind"] = kind
        var known: [String: String] = [:]  // id → status printed
        let first = try connection.ask("activity", fields)["activity"] as? [[String: Any]] ?? []
        for event in first.reversed() {
            printEvent(event, history: false)
            known[event["id"] as? String ?? ""] = event["status"] as? String
        }
        guard follow else { return }
        while true {
            Thread.sleep(forTimeInterval: max(0.2, interval))
            let page = try connection.ask("activity", fields)["activity"] as? [[String: Any]] ?? []
            for event in page.reversed() {
                let id = event["id"] as? String ?? ""
                let status = event["status"] as? String
                guard known[id] != status else { continue }
                printEvent(event, history: false)
                known[id] = status
            }
        }
    }
}

/// Writes to stdout at once (unbuffered), so `--follow` shows each line as it comes.
private func write(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// One event as a line: received, id, status, who, what, value, when; its history below.
func printEvent(_ event: [String: Any], history: Bool) {
    let name = event["name"] as? String ?? ""
    let rep = event["rep"] as? String ?? ""
    let who = name == rep ? rep : "\(name) (\(rep))"
    let team = (event["team"] as? String).map { " · \($0)" } ?? ""
    let value = (event["value"] as? Double).map(formatScore) ?? ""
    var text = "\(event["received_at"] ?? "")\t\(event["id"] ?? "")\t\(event["status"] ?? "")\t\(who)\(team)\t\(event["kind"] ?? "")\t\(value)\t\(event["at"] ?? "")\n"
    defer { write(text) }
    guard history else { return }
    for step in event["history"] as? [[String: Any]] ?? [] {
        let by = (step["by"] as? String).map { " by \($0)" } ?? ""
        let changes = (step["changes"] as? [String]).map { $0.isEmpty ? "" : " (\($0.joined(separator: ", ")))" } ?? ""
        text += "  \(step["received_at"] ?? "")\t\(step["status"] ?? "")\(by)\(changes)\n"
    }
}
