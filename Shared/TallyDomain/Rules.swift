import Foundation
import Yams

/// An org's scoring rules: where its days and weeks begin, what its reps do, what its boards
/// count. Loaded from a JSON or YAML file; anything left out takes the default.
package struct Rules: Sendable, Equatable {
    package var timeZone: TimeZone
    package var weekStart: Weekday
    package var kinds: [String]
    package var metrics: [Metric]
    package var windows: [Window]
    package var scopes: [Scope]
    /// How long calendar periods and idempotency records are kept, and how old an event may be.
    package var retentionDays: Int
    /// How long accepted events are kept in the org's activity log (and can be corrected);
    /// 0: the org keeps no log (nothing can be corrected, no activity is listed).
    package var logDays: Int = 90
    /// The kinds whose new events `_events` announces as `activity` (the TV page's ticker).
    package var feedKinds: [String] = ["appointment", "demo", "proposal", "deal_won"]
    /// The attainments (0.5 = half the target) whose crossing `_events` announces as a
    /// `milestone`, ascending.
    package var milestones: [Double] = [0.5, 1.0, 1.5]

    package static let defaultKinds = ["door_knock", "call", "email", "appointment", "demo", "proposal", "deal_won"]

    package static let `default` = Rules(
        timeZone: TimeZone(identifier: "UTC")!,
        weekStart: .monday,
        kinds: defaultKinds,
        metrics: [
            Metric(name: "points", weights: [
                "door_knock": .points(1), "call": .points(1), "email": .points(1), "appointment": .points(5),
                "demo": .points(10), "proposal": .points(15), "deal_won": .points(50),
            ]),
            Metric(name: "revenue", weights: ["deal_won": .value]),
            Metric(name: "deals", weights: ["deal_won": .points(1)]),
            Metric(name: "doors", weights: ["door_knock": .points(1)]),
            Metric(name: "appointments", weights: ["appointment": .points(1)]),
        ],
        windows: Window.allCases,
        scopes: Scope.allCases,
        retentionDays: 400)

    package var retentionMilliseconds: Int64 { Int64(retentionDays) * 86_400_000 }
    package var logMilliseconds: Int64 { Int64(logDays) * 86_400_000 }
    /// Whether the org keeps an activity log (`log_days` above 0).
    package var keepsLog: Bool { logDays > 0 }

    package func metric(named name: String) -> Metric? { metrics.first { $0.name == name } }

    /// The board ids the rules define, `<metric>:<window>:<scope>`.
    package var boardIDs: [String] {
        metrics.flatMap { metric in
            windows.flatMap { window in scopes.map { "\(metric.name):\(window.rawValue):\($0.rawValue)" } }
        }
    }
}

/// A rules file that cannot be used, naming the key that is wrong.
package struct RulesError: Error, Equatable, CustomStringConvertible {
    package let key: String
    package let problem: String

    package init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    package var description: String { "\(key): \(problem)" }
}

extension Rules {
    /// Reads rules from JSON or YAML text (JSON is YAML too).
    package static func parse(_ text: String) throws(RulesError) -> Rules {
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw RulesError(key: "rules", problem: "not valid JSON or YAML: \(error)")
        }
        guard let object = document as? [String: Any] else {
            throw RulesError(key: "rules", problem: "must be a mapping of settings")
        }
        return try from(object)
    }

    private static let knownKeys: Set<String> = ["timezone", "week_starts", "kinds", "metrics", "windows", "scopes", "retention_days", "log_days", "feed_kinds", "milestones"]

    private static func from(_ object: [String: Any]) throws(RulesError) -> Rules {
        var rules = Rules.default
        if let unknown = object.keys.sorted().first(where: { !knownKeys.contains($0) }) {
            throw RulesError(key: unknown, problem: "unknown setting (known: \(knownKeys.sorted().joined(separator: ", ")))")
        }
        if let raw = object["timezone"] {
            guard let name = raw as? String, let zone = TimeZone(identifier: name) else {
                throw RulesError(key: "timezone", problem: "unknown time zone '\(raw)' (use an IANA name such as Europe/Berlin)")
            }
            rules.timeZone = zone
        }
        if let raw = object["week_starts"] {
            guard let name = raw as? String, let day = Weekday(rawValue: name.lowercased()) else {
                throw RulesError(key: "week_starts", problem: "must be a day of the week such as monday, got '\(raw)'")
            }
            rules.weekStart = day
        }
        if let raw = object["kinds"] {
            guard let kinds = raw as? [String], !kinds.isEmpty, kinds.allSatisfy(isMemberID) else {
                throw RulesError(key: "kinds", problem: "must be a list of activity kind names")
            }
            rules.kinds = kinds
        }
        if let raw = object["metrics"] {
            guard let metrics = raw as? [String: Any], !metrics.isEmpty else {
                throw RulesError(key: "metrics", problem: "must map metric names to {kind: weight}")
            }
            rules.metrics = try metrics.keys.sorted().map { (name) throws(RulesError) -> Metric in
                try metric(name, metrics[name]!, kinds: rules.kinds)
            }
        } else {
            // The default metrics over custom kinds count only the kinds that exist.
            rules.metrics = rules.metrics.compactMap { metric in
                let weights = metric.weights.filter { rules.kinds.contains($0.key) }
                return weights.isEmpty ? nil : Metric(name: metric.name, weights: weights)
            }
        }
        if let raw = object["windows"] {
            let names = raw as? [String] ?? []
            let windows = names.compactMap(Window.init(rawValue:))
            guard !names.isEmpty, windows.count == names.count else {
                throw RulesError(key: "windows", problem: "must be a list of: \(Window.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            rules.windows = windows
        }
        if let raw = object["scopes"] {
            let names = raw as? [String] ?? []
            let scopes = names.compactMap(Scope.init(rawValue:))
            guard !names.isEmpty, scopes.count == names.count else {
                throw RulesError(key: "scopes", problem: "must be a list of: reps, teams")
            }
            rules.scopes = scopes
        }
        if let raw = object["retention_days"] {
            guard let days = raw as? Int, (1...3650).contains(days) else {
                throw RulesError(key: "retention_days", problem: "must be a whole number of days from 1 to 3650")
            }
            rules.retentionDays = days
        }
        if let raw = object["log_days"] {
            guard let days = raw as? Int, (0...3650).contains(days) else {
                throw RulesError(key: "log_days", problem: "must be a whole number of days from 0 (no log) to 3650")
            }
            rules.logDays = days
        }
        if let raw = object["feed_kinds"] {
            guard let kinds = raw as? [String], kinds.allSatisfy(rules.kinds.contains) else {
                throw RulesError(key: "feed_kinds", problem: "must be a list of the org's activity kinds")
            }
            rules.feedKinds = kinds
        } else {
            rules.feedKinds = rules.feedKinds.filter(rules.kinds.contains)
        }
        if let raw = object["milestones"] {
            let numbers = (raw as? [Any])?.compactMap { ($0 as? Double) ?? ($0 as? Int).map(Double.init) } ?? []
            guard let list = raw as? [Any], numbers.count == list.count, numbers.count <= 20,
                numbers.allSatisfy({ $0.isFinite && $0 > 0 && $0 <= 1000 }), numbers == numbers.sorted(), Set(numbers).count == numbers.count
            else {
                throw RulesError(key: "milestones", problem: "must be a list of at most 20 attainments in ascending order, each > 0 and ≤ 1000 (0.5 = half the target)")
            }
            rules.milestones = numbers
        }
        return rules
    }

    private static func metric(_ name: String, _ raw: Any, kinds: [String]) throws(RulesError) -> Metric {
        guard isMemberID(name), !name.contains(":") else {
            throw RulesError(key: "metrics.\(name)", problem: "a metric name is letters, digits, . _ @ -")
        }
        guard let weights = raw as? [String: Any], !weights.isEmpty else {
            throw RulesError(key: "metrics.\(name)", problem: "must map activity kinds to weights")
        }
        var parsed: [String: Metric.Weight] = [:]
        for (kind, weight) in weights {
            let key = "metrics.\(name).\(kind)"
            guard kinds.contains(kind) else {
                throw RulesError(key: key, problem: "unknown activity kind '\(kind)'")
            }
            if let text = weight as? String, text == "value" {
                parsed[kind] = .value
            } else if let number = (weight as? Double) ?? (weight as? Int).map(Double.init), number.isFinite {
                parsed[kind] = .points(number)
            } else {
                throw RulesError(key: key, problem: "a weight is a number of points or \"value\", got '\(weight)'")
            }
        }
        return Metric(name: name, weights: parsed)
    }
}

/// The rules of every org: a file `<org>.json`, `<org>.yaml` or `<org>.yml` in the rules
/// directory, or the defaults.
package struct RulesBook: Sendable {
    private let byOrg: [String: Rules]

    package init(_ byOrg: [String: Rules] = [:]) {
        self.byOrg = byOrg
    }

    package func rules(for org: String) -> Rules { byOrg[org] ?? .default }

    /// Loads every rules file in `directory`; a wrong file stops start-up with its name and key.
    package static func load(directory: String?) throws -> RulesBook {
        guard let directory else { return RulesBook() }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        var byOrg: [String: Rules] = [:]
        for file in files {
            let url = URL(fileURLWithPath: directory).appendingPathComponent(file)
            guard ["json", "yaml", "yml"].contains(url.pathExtension) else { continue }
            let org = url.deletingPathExtension().lastPathComponent
            guard Org.isValid(org) else {
                throw RulesError(key: file, problem: "the file name must be an org id ([a-z0-9-]) plus .json, .yaml or .yml")
            }
            let text = try String(contentsOf: url, encoding: .utf8)
            do {
                byOrg[org] = try Rules.parse(text)
            } catch {
                throw RulesError(key: "\(file): \(error.key)", problem: error.problem)
            }
        }
        return RulesBook(byOrg)
    }
}
