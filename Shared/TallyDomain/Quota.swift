import Foundation

/// A target for one member on one metric and calendar window (SPEC "Quotas and attainment"):
/// for one period when `period` is given, else for every period of the window that has no
/// quota of its own.
package struct Quota: Sendable, Hashable, Codable {
    package var metric: String
    package var window: Window
    package var scope: Scope
    package var member: String
    package var target: Double
    package var period: String?

    package init(metric: String, window: Window, scope: Scope, member: String, target: Double, period: String? = nil) {
        self.metric = metric
        self.window = window
        self.scope = scope
        self.member = member
        self.target = target
        self.period = period
    }

    /// The board the quota is a target on, `<metric>:<window>:<scope>`.
    package var board: BoardID { BoardID(metric: metric, window: window, scope: scope) }

    /// The windows a quota may be for: the calendar ones (not `all`, not rolling).
    package static let windows: [Window] = [.today, .week, .month, .quarter, .year]

    /// The most quotas one put may hold.
    package static let maxPerPut = 10_000

    package static let fields: Set<String> = ["metric", "window", "scope", "member", "target", "period"]

    /// Reads a put's body, `{"quotas": [...]}`, and checks every entry against the org's rules:
    /// the first bad entry refuses them all, named by its index and field
    /// (`quotas[3].target: must be a number > 0`).
    package static func batch(_ body: Data, rules: Rules) throws(EventRejection) -> [Quota] {
        let document: Body
        do {
            document = try JSONDecoder().decode(Body.self, from: body)
        } catch {
            throw EventRejection("quotas", "must be a JSON object {\"quotas\": [...]} holding 1 to \(maxPerPut) quotas")
        }
        guard let entries = document.quotas else { throw EventRejection("quotas", "is required: a list of 1 to \(maxPerPut) quotas") }
        guard !entries.isEmpty else { throw EventRejection("quotas", "must hold at least one quota") }
        guard entries.count <= maxPerPut else {
            throw EventRejection("quotas", "at most \(maxPerPut) in one put, got \(entries.count)")
        }
        var quotas: [Quota] = []
        quotas.reserveCapacity(entries.count)
        var firstIndex: [Slot: Int] = [:]
        for (index, entry) in entries.enumerated() {
            let quota = try validated(entry, at: index, rules: rules)
            let slot = Slot(quota)
            if let earlier = firstIndex[slot] {
                throw EventRejection(
                    "quotas[\(index)]", "the same metric, window, scope, member and period as quotas[\(earlier)]")
            }
            firstIndex[slot] = index
            quotas.append(quota)
        }
        return quotas
    }

    /// One entry checked field by field, in the order a reader fixes them.
    private static func validated(_ entry: Entry, at index: Int, rules: Rules) throws(EventRejection) -> Quota {
        let name = "quotas[\(index)]"
        guard case .object(let fields) = entry else {
            throw EventRejection(name, "must be an object {\"metric\", \"window\", \"scope\", \"member\", \"target\", \"period\"?}")
        }
        if let unknown = fields.keys.sorted().first(where: { !Self.fields.contains($0) }) {
            throw EventRejection("\(name).\(String(unknown.prefix(64)))", "unknown field (a quota has metric, window, scope, member, target and period)")
        }
        func string(_ field: String) throws(EventRejection) -> String {
            guard let value = fields[field] else { throw EventRejection("\(name).\(field)", "is required") }
            guard case .string(let text) = value else { throw EventRejection("\(name).\(field)", "must be a string") }
            return text
        }
        let metric = try string("metric")
        guard rules.metric(named: metric) != nil else {
            throw EventRejection(
                "\(name).metric", "unknown metric \(metric.quoted) (the org's metrics: \(rules.metrics.map(\.name).joined(separator: ", ")))")
        }
        let windows = Self.windows.filter(rules.windows.contains)
        let windowName = try string("window")
        guard let window = Window(rawValue: windowName), windows.contains(window) else {
            throw EventRejection("\(name).window", "must be one of \(windows.map(\.rawValue).joined(separator: ", ")), got \(windowName.quoted)")
        }
        let scopeName = try string("scope")
        guard let scope = Scope(rawValue: scopeName), rules.scopes.contains(scope) else {
            throw EventRejection("\(name).scope", "must be one of \(rules.scopes.map(\.rawValue).joined(separator: ", ")), got \(scopeName.quoted)")
        }
        let member = try string("member")
        guard isMemberID(member) else {
            throw EventRejection("\(name).member", "must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -")
        }
        guard case .number(let target) = fields["target"], target.isFinite, target > 0 else {
            throw EventRejection("\(name).target", "must be a number > 0")
        }
        var period: String?
        switch fields["period"] {
        case nil, .null?:
            period = nil
        case .string(let text)?:
            guard window.validPeriod(text) != nil else {
                throw EventRejection("\(name).period", "must be a \(window.rawValue) period such as \(window.periodExample), got \(text.quoted)")
            }
            period = text
        default:
            throw EventRejection("\(name).period", "must be a \(window.rawValue) period such as \(window.periodExample)")
        }
        return Quota(metric: metric, window: window, scope: scope, member: member, target: target, period: period)
    }

    /// What makes two quotas the same quota (the one would overwrite the other).
    private struct Slot: Hashable {
        let metric: String, window: Window, scope: Scope, member: String, period: String?
        init(_ quota: Quota) {
            (metric, window, scope, member, period) = (quota.metric, quota.window, quota.scope, quota.member, quota.period)
        }
    }

    private struct Body: Decodable {
        let quotas: [Entry]?
    }

    /// A JSON value as far as checking an entry needs: a `true` is not a number, nor `"5"`.
    private enum Entry: Decodable {
        case object([String: Entry])
        case string(String)
        case number(Double)
        case null
        case other

        init(from decoder: any Decoder) throws {
            if let container = try? decoder.container(keyedBy: AnyKey.self) {
                var fields: [String: Entry] = [:]
                for key in container.allKeys { fields[key.stringValue] = try container.decode(Entry.self, forKey: key) }
                self = .object(fields)
                return
            }
            let value = try decoder.singleValueContainer()
            if value.decodeNil() {
                self = .null
            } else if (try? value.decode(Bool.self)) != nil {
                self = .other
            } else if let number = try? value.decode(Double.self) {
                self = .number(number)
            } else if let text = try? value.decode(String.self) {
                self = .string(text)
            } else {
                self = .other
            }
        }
    }

    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }
}
