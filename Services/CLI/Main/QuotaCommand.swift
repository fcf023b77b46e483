import ArgumentParser
import Foundation

struct QuotaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota", abstract: "Import quotas from a CSV file (an organizer's), or list them.",
        discussion: """
            tally quota import december.csv --org acme --token $ORGANIZER
            tally quota list --org acme --metric revenue --window month --token $VIEWER
            The CSV file's header row names the columns metric,window,scope,member,target and
            optionally period, in any order. A row without a period sets the member's quota for
            every period of the window that has none of its own.
            """,
        subcommands: [Import.self, List.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Save every quota of a CSV file, all or none (at most 10,000 rows).")
        @OptionGroup var connection: LeaderboardOptions
        @Argument(help: "The CSV file: a header row naming metric,window,scope,member,target[,period], then one quota a row.")
        var file: String

        func run() throws {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ValidationError("\(file): cannot be read as UTF-8 text (\(error.localizedDescription))")
            }
            let sheet = try QuotaSheet(text)
            let answer: [String: Any]
            do {
                answer = try connection.ask("quota.put", ["quotas": sheet.quotas])
            } catch let error as ValidationError {
                throw ValidationError("\(file): \(sheet.naming(error.message))")
            }
            print("saved \(answer["saved"] ?? 0) quotas in org \(connection.org)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the org's quotas as CSV (metric,window,scope,member,period,target), which import reads back.")
        @OptionGroup var connection: LeaderboardOptions
        @Option(help: "Only this metric's.") var metric: String?
        @Option(help: "Only this window's: today, week, month, quarter or year.") var window: String?
        @Option(help: "Only this scope's: reps or teams.") var scope: String?
        @Option(help: "Only this rep's or team's.") var member: String?

        func run() throws {
            var fields: [String: Any] = [:]
            fields["metric"] = metric
            fields["window"] = window
            fields["scope"] = scope
            fields["member"] = member
            let quotas = try connection.ask("quota.list", fields)["quotas"] as? [[String: Any]] ?? []
            print("metric,window,scope,member,period,target")
            for quota in quotas {
                let target = (quota["target"] as? Double).map(formatTarget) ?? ""
                print("\(quota["metric"] ?? ""),\(quota["window"] ?? ""),\(quota["scope"] ?? ""),\(quota["member"] ?? ""),\(quota["period"] ?? ""),\(target)")
            }
        }
    }
}

/// A target as a spreadsheet shows it: whole numbers without a fraction, others in full.
private func formatTarget(_ target: Double) -> String {
    target == target.rounded() && abs(target) < 1e15 ? String(Int64(target)) : String(target)
}

/// A CSV file of quotas read into the entries of a `quota.put`, remembering each row's line so
/// that an error about `quotas[i]` names the line it came from.
struct QuotaSheet {
    static let required = ["metric", "window", "scope", "member", "target"]
    static let columns = Set(required + ["period"])

    private(set) var quotas: [[String: Any]] = []
    /// The line each entry of `quotas` starts on (1 is the header).
    private(set) var lines: [Int] = []

    init(_ text: String) throws {
        let rows = CSV.rows(text)
        guard let header = rows.first else { throw ValidationError("line 1: the file is empty; it needs a header row naming \(Self.required.joined(separator: ","))[,period]") }
        let names = header.cells.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if let unknown = names.first(where: { !Self.columns.contains($0) }) {
            throw ValidationError("line \(header.line): unknown column '\(unknown.prefix(64))' (the columns are \(Self.required.joined(separator: ",")) and optionally period)")
        }
        if let missing = Self.required.first(where: { !names.contains($0) }) {
            throw ValidationError("line \(header.line): the header names no column \(missing) (the columns are \(Self.required.joined(separator: ",")) and optionally period)")
        }
        if let twice = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw ValidationError("line \(header.line): the header names column \(twice) twice")
        }
        for row in rows.dropFirst() {
            if row.cells.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { continue }
            guard row.cells.count == names.count else {
                throw ValidationError("line \(row.line): has \(row.cells.count) cells where the header names \(names.count) columns")
            }
            var quota: [String: Any] = [:]
            for (name, raw) in zip(names, row.cells) {
                let cell = raw.trimmingCharacters(in: .whitespaces)
                switch name {
                case "target":
                    guard let target = Double(cell), target.isFinite, target > 0 else {
                        throw ValidationError("line \(row.line), column target: must be a number > 0, got '\(cell.prefix(64))'")
                    }
                    quota["target"] = target
                case "period":
                    if !cell.isEmpty { quota["period"] = cell }
                default:
                    quota[name] = cell
                }
            }
            quotas.append(quota)
            lines.append(row.line)
        }
        guard !quotas.isEmpty else { throw ValidationError("line \(header.line + 1): the file has a header and no quotas") }
    }

    /// The leaderboard's error with every `quotas[i]` as the line it came from, and
    /// `quotas[i].field` as that line's column: `line 5, column target: must be a number > 0`.
    func naming(_ message: String) -> String {
        var result = ""
        var rest = Substring(message)
        while let open = rest.range(of: "quotas[") {
            result += rest[..<open.lowerBound]
            let after = rest[open.upperBound...]
            guard let close = after.firstIndex(of: "]"), let index = Int(after[..<close]), lines.indices.contains(index) else {
                result += rest[open]
                rest = after
                continue
            }
            result += "line \(lines[index])"
            rest = after[after.index(after: close)...]
            if rest.hasPrefix(".") {
                let field = rest.dropFirst().prefix { $0.isLetter || $0 == "_" }
                result += ", column \(field)"
                rest = rest.dropFirst(1 + field.count)
            }
        }
        return result + rest
    }
}

/// RFC 4180 CSV: commas, double-quoted cells (`""` inside is a quote), CRLF or LF rows.
enum CSV {
    struct Row {
        /// The line the row starts on, from 1.
        let line: Int
        let cells: [String]
    }

    static func rows(_ text: String) -> [Row] {
        var rows: [Row] = []
        var cells: [String] = []
        var cell = ""
        var quoted = false
        var line = 1
        var rowLine = 1
        var characters = text.hasPrefix("\u{FEFF}") ? Substring(text.dropFirst()) : Substring(text)
        func endRow() {
            cells.append(cell)
            rows.append(Row(line: rowLine, cells: cells))
            cells = []
            cell = ""
        }
        while let character = characters.first {
            characters = characters.dropFirst()
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" {
                        cell.append("\"")
                        characters = characters.dropFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    if character == "\n" || character == "\r\n" { line += 1 }
                    cell.append(character)
                }
                continue
            }
            switch character {
            case "\"" where cell.isEmpty: quoted = true
            case ",":
                cells.append(cell)
                cell = ""
            case "\n", "\r\n", "\r":
                endRow()
                line += 1
                rowLine = line
            default: cell.append(character)
            }
        }
        if !cell.isEmpty || !cells.isEmpty { endRow() }
        return rows
    }
}
