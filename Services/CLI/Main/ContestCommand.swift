import ArgumentParser
import Foundation
import TallyDomain
import TallyService

struct ContestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contest", abstract: "Create, list, show, end or cancel contests.",
        subcommands: [Create.self, List.self, Show.self, End.self, Cancel.self])

    /// An organizer token (or the admin token) creates, ends and cancels; a viewer token reads.
    typealias Connection = LeaderboardOptions

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Launch a contest.",
            discussion: """
                tally contest create --id dec-blitz --name "December Door Blitz" --metric doors --starts now --ends +30d
                tally contest create --id race-20 --name "First to 20 demos" --weight demo=1 --goal 20 --starts now --ends +7d
                Times: now, +90m, +2h, +3d, 2026-12-01, or RFC 3339 (2026-12-01T08:00:00+01:00).
                """)
        @OptionGroup var connection: Connection
        @Option(help: "Contest id: a-z, 0-9 and -.") var id: String
        @Option(help: "Name shown on the TV.") var name: String
        @Option(help: "A metric of the org's rules (points, revenue, deals, doors, appointments).") var metric: String?
        @Option(help: "Instead of a metric: kind=points, repeatable (kind=value counts the event's value).") var weight: [String] = []
        @Option(help: "reps or teams.") var scope = "reps"
        @Option(help: "Comma-separated rep (or team) ids; default everyone.") var participants: String?
        @Option(help: "When it starts.") var starts: String
        @Option(help: "When it ends.") var ends: String
        @Option(help: "A race: won by whoever reaches this score first.") var goal: Double?
        @Option(help: "Seconds late events (that happened before the end) still count.") var grace: Int?
        @Option(help: "A prize, repeatable.") var prize: [String] = []
        @Option(help: "Description.") var description: String?

        func run() throws {
            var contest: [String: Any] = [
                "id": id, "name": name, "scope": scope, "prizes": prize,
                "starts_at": try parseTime(starts, option: "starts"), "ends_at": try parseTime(ends, option: "ends"),
            ]
            contest["metric"] = metric
            contest["goal"] = goal
            contest["grace_seconds"] = grace
            contest["description"] = description
            contest["participants"] = participants.map(Environment.list)
            if !weight.isEmpty {
                var weights: [String: Any] = [:]
                for item in weight {
                    let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else { throw ValidationError("--weight takes kind=points, got '\(item)'") }
                    weights[parts[0]] = parts[1] == "value" ? "value" : (Double(parts[1]) as Any?)
                    guard weights[parts[0]] != nil else { throw ValidationError("--weight \(item): the points must be a number or 'value'") }
                }
                contest["weights"] = weights
            }
            show(try connection.ask("contest.create", ["contest": contest]))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List contests.")
        @OptionGroup var connection: Connection
        @Option(help: "Only contests in this state: scheduled, running, ended, final, cancelled.") var state: String?

        func run() throws {
            var fields: [String: Any] = [:]
            fields["state"] = state
            let contests = try connection.ask("contest.list", fields)["contests"] as? [[String: Any]] ?? []
            if contests.isEmpty { print("no contests") }
            for contest in contests {
                print("\(contest["id"] ?? "")\t\(contest["state"] ?? "")\t\(contest["starts_at"] ?? "") → \(contest["ends_at"] ?? "")\t\(contest["name"] ?? "")")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a contest with its standings.")
        @OptionGroup var connection: Connection
        @Argument(help: "Contest id.") var id: String
        func run() throws { show(try connection.ask("contest.get", ["id": id])) }
    }

    struct End: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a running contest now.")
        @OptionGroup var connection: Connection
        @Argument(help: "Contest id.") var id: String
        func run() throws { show(try connection.ask("contest.end", ["id": id])) }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a contest.")
        @OptionGroup var connection: Connection
        @Argument(help: "Contest id.") var id: String
        func run() throws { show(try connection.ask("contest.cancel", ["id": id])) }
    }
}

private func show(_ contest: [String: Any]) {
    print("\(contest["name"] ?? "") (\(contest["id"] ?? "")): \(contest["state"] ?? "")")
    print("  \(contest["starts_at"] ?? "") → \(contest["ends_at"] ?? "")")
    if let winners = contest["winners"] as? [[String: Any]], !winners.isEmpty {
        print("  winners: \(winners.compactMap { $0["name"] as? String }.joined(separator: ", "))")
    }
    if let standings = contest["standings"] as? [String: Any] { printEntries(standings) }
}

/// `now`, `+90m`, `+2h`, `+3d`, `+45s`, a date, or RFC 3339, as RFC 3339.
func parseTime(_ text: String, option: String, now: Date = Date()) throws -> String {
    if text == "now" { return Timestamp.format(Int64(now.timeIntervalSince1970 * 1000)) }
    if text.hasPrefix("+"), let unit = text.last, let amount = Double(text.dropFirst().dropLast()) {
        let seconds: Double? = ["s": 1, "m": 60, "h": 3600, "d": 86_400][unit]
        if let seconds { return Timestamp.format(Int64((now.timeIntervalSince1970 + amount * seconds) * 1000)) }
    }
    if LocalDate(label: text) != nil { return text + "T00:00:00Z" }
    if Timestamp.parse(text) != nil { return text }
    throw ValidationError("--\(option): '\(text)' is not a time; use now, +2h, +3d, 2026-12-01 or 2026-12-01T08:00:00+01:00")
}
