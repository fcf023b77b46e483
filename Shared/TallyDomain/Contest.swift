import Foundation

/// A competition an organizer launches: who counts, what counts, from when to when.
/// Stored as JSON in the org's contests hash; its state follows from its times.
package struct Contest: Codable, Sendable, Equatable {
    package enum State: String, Codable, Sendable {
        case scheduled, running, ended, final, cancelled
    }

    package var id: String
    package var name: String
    /// A metric of the org's rules, or nil when `weights` says what counts.
    package var metric: String?
    package var weights: [String: Metric.Weight]?
    package var scope: Scope
    /// Reps (or teams, for a team contest) who take part; nil: everyone.
    package var participants: [String]?
    /// Milliseconds since 1970.
    package var startsAt: Int64
    package var endsAt: Int64
    /// A race: won by whoever reaches this score first.
    package var goal: Double?
    package var graceSeconds: Int
    package var prizes: [String]
    package var description: String?
    /// Set by `contest.end` (ends it then) and `contest.cancel`.
    package var endedAt: Int64?
    package var cancelledAt: Int64?

    /// The contest's board id.
    package var boardID: String { "contest:\(id)" }

    /// When counting stops: the scheduled end, an early end, or a race's finish.
    package func end(finishedAt: Int64?) -> Int64 {
        min(endsAt, endedAt ?? .max, finishedAt ?? .max)
    }

    package func state(at now: Int64, finishedAt: Int64? = nil) -> State {
        if cancelledAt != nil { return .cancelled }
        if now < startsAt { return .scheduled }
        let end = end(finishedAt: finishedAt)
        if now < end { return .running }
        if now < end + Int64(graceSeconds) * 1000 { return .ended }
        return .final
    }

    /// What an event adds to this contest, or nil when it does not count: outside the
    /// window, arriving after the grace, not a participant, or of a kind that does not count.
    package func amount(for event: ActivityEvent, arrivedAt now: Int64, rules: Rules, finishedAt: Int64?) -> (member: String, amount: Double)? {
        guard cancelledAt == nil else { return nil }
        let end = end(finishedAt: finishedAt)
        guard event.at >= startsAt, event.at < end, now < end + Int64(graceSeconds) * 1000 else { return nil }
        guard let member = scope == .reps ? event.rep : event.team else { return nil }
        if let participants, !participants.contains(member) { return nil }
        let weighting = weights.map { Metric(name: id, weights: $0) } ?? metric.flatMap(rules.metric(named:))
        guard let amount = weighting?.amount(kind: event.kind, value: event.value) else { return nil }
        return (member, amount)
    }

    enum CodingKeys: String, CodingKey {
        case id, name, metric, weights, scope, participants, startsAt = "starts_at_ms", endsAt = "ends_at_ms", goal
        case graceSeconds = "grace_seconds", prizes, description, endedAt = "ended_at_ms", cancelledAt = "cancelled_at_ms"
    }
}

extension Metric.Weight: Codable {
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let points = try? container.decode(Double.self) {
            self = .points(points)
        } else if try container.decode(String.self) == "value" {
            self = .value
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a weight is a number or \"value\"")
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .points(let points): try container.encode(points)
        case .value: try container.encode("value")
        }
    }
}

/// A contest definition as an organizer sends it, checked field by field.
package struct ContestDefinition: Decodable, Sendable {
    var id: String?
    var name: String?
    var metric: String?
    var weights: [String: Metric.Weight]?
    var scope: String?
    var participants: [String]?
    var starts_at: String?
    var ends_at: String?
    var goal: Double?
    var grace_seconds: Int?
    var prizes: [String]?
    var description: String?

    /// Reads a definition; a field of the wrong JSON type is named in the error.
    package static func decode(_ data: Data) throws(EventRejection) -> ContestDefinition {
        do {
            return try JSONDecoder().decode(ContestDefinition.self, from: data)
        } catch let DecodingError.typeMismatch(_, context) {
            throw EventRejection(context.codingPath.first?.stringValue ?? "contest", "has the wrong type")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            throw EventRejection(context.codingPath.map(\.stringValue).joined(separator: "."), "is not valid (\(context.debugDescription))")
        } catch {
            throw EventRejection("contest", "must be a JSON object")
        }
    }

    /// Checks every field against the org's rules.
    package func validated(rules: Rules) throws(EventRejection) -> Contest {
        guard let id, (1...64).contains(id.count), Org.isValid(id) else {
            throw EventRejection("id", "must be 1 to 64 characters of a-z, 0-9 and -")
        }
        guard let name, (1...100).contains(name.count) else { throw EventRejection("name", "must be 1 to 100 characters") }
        if metric != nil && weights != nil { throw EventRejection("metric", "give metric or weights, not both") }
        if let metric, rules.metric(named: metric) == nil {
            throw EventRejection("metric", "unknown metric \(metric.quoted) (known: \(rules.metrics.map(\.name).joined(separator: ", ")))")
        }
        if let weights {
            guard !weights.isEmpty else { throw EventRejection("weights", "must name at least one activity kind") }
            if let kind = weights.keys.sorted().first(where: { !rules.kinds.contains($0) }) {
                throw EventRejection("weights", "unknown activity kind \(kind.quoted)")
            }
        }
        if metric == nil && weights == nil { throw EventRejection("metric", "is required (or weights)") }
        guard let scope = Scope(rawValue: scope ?? "reps") else { throw EventRejection("scope", "must be reps or teams") }
        if let participants, participants.isEmpty || !participants.allSatisfy(isMemberID) {
            throw EventRejection("participants", "must be a non-empty list of \(scope.rawValue) ids")
        }
        guard let startsText = starts_at, let startsAt = Timestamp.parse(startsText) else {
            throw EventRejection("starts_at", "must be an RFC 3339 time such as 2026-12-01T08:00:00+01:00")
        }
        guard let endsText = ends_at, let endsAt = Timestamp.parse(endsText) else {
            throw EventRejection("ends_at", "must be an RFC 3339 time such as 2026-12-31T18:00:00+01:00")
        }
        guard endsAt > startsAt else { throw EventRejection("ends_at", "must be after starts_at") }
        if let goal, !(goal > 0 && goal.isFinite) { throw EventRejection("goal", "must be a number above 0") }
        let grace = grace_seconds ?? 0
        guard grace >= 0 else { throw EventRejection("grace_seconds", "must be 0 or more") }
        return Contest(
            id: id, name: name, metric: metric, weights: weights, scope: scope, participants: participants,
            startsAt: startsAt, endsAt: endsAt, goal: goal, graceSeconds: grace, prizes: prizes ?? [],
            description: description)
    }
}
