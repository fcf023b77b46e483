import Foundation

/// What a field app asked of tally-ingestion, decoded from one JSON frame.
package enum EventRequest: Sendable, Equatable {
    case ping
    /// The events in the order sent; each either valid or refused with a reason. `id` is the
    /// sent id when there was a readable one, so a refusal can still name its event.
    case events([Item])

    package struct Item: Sendable, Equatable {
        package var id: String?
        package var outcome: Result<ActivityEvent, EventRejection>
    }

    /// A request that cannot be read at all.
    package struct Unreadable: Error, Equatable, CustomStringConvertible {
        package let description: String
    }

    package static let maxEvents = 1_000

    /// Decodes and validates a request. `receivedAt` (ms since 1970) is the default `at`
    /// and the reference for "too far in the future". `org`, when given, is the one org the
    /// sender may write (its key's): an event without `org` is that org's, one naming another
    /// is refused.
    package static func decode(_ data: Data, receivedAt: Int64, org: String? = nil) throws(Unreadable) -> EventRequest {
        guard String(validating: data, as: UTF8.self) != nil else {
            throw Unreadable(description: "request: not valid UTF-8")
        }
        let envelope: Envelope
        do {
            envelope = try JSONDecoder().decode(Envelope.self, from: data)
        } catch let error as Unreadable {
            throw error
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw Unreadable(description: "request: must be a JSON object: an event, or {\"events\": [...]}")
        } catch {
            throw Unreadable(description: "request: not valid JSON")
        }
        switch envelope {
        case .ping:
            return .ping
        case .events(let raw):
            return .events(raw.map { $0.validated(receivedAt: receivedAt, org: org) })
        }
    }

    /// The outer object: `{"op": "ping"}`, `{"events": [...]}` or one event.
    private enum Envelope: Decodable {
        case ping
        case events([RawEvent])

        enum Key: String, CodingKey { case op, events }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            if container.contains(.op) {
                let op = try? container.decode(String.self, forKey: .op)
                guard op == "ping" else {
                    throw Unreadable(description: "op: unknown operation \((op ?? "?").quoted) (this endpoint takes events and ping)")
                }
                self = .ping
            } else if container.contains(.events) {
                guard let events = try? container.decode([RawEvent].self, forKey: .events),
                    (1...EventRequest.maxEvents).contains(events.count)
                else {
                    throw Unreadable(description: "events: must be an array of 1 to \(EventRequest.maxEvents) events")
                }
                self = .events(events)
            } else {
                self = .events([try RawEvent(from: decoder)])
            }
        }
    }
}

/// An event as sent, each field kept as present, absent or of the wrong JSON type, so that
/// validation can name exactly what is wrong with it.
private struct RawEvent: Decodable {
    enum Field<T> {
        case absent, wrongType, value(T)
    }

    enum Key: String, CodingKey {
        case id, org, rep, repName = "rep_name", team, kind, value, at
    }

    var isObject = true
    var id: Field<String> = .absent
    var org: Field<String> = .absent
    var rep: Field<String> = .absent
    var repName: Field<String> = .absent
    var team: Field<String> = .absent
    var kind: Field<String> = .absent
    var value: Field<Double> = .absent
    var at: Field<String> = .absent

    init(from decoder: any Decoder) {
        guard let c = try? decoder.container(keyedBy: Key.self) else {
            isObject = false
            return
        }
        func field<T: Decodable>(_ key: Key) -> Field<T> {
            do {
                return try c.decodeIfPresent(T.self, forKey: key).map { .value($0) } ?? .absent
            } catch {
                return .wrongType
            }
        }
        id = field(.id)
        org = field(.org)
        rep = field(.rep)
        repName = field(.repName)
        team = field(.team)
        kind = field(.kind)
        value = field(.value)
        at = field(.at)
    }

    func validated(receivedAt: Int64, org keyOrg: String?) -> EventRequest.Item {
        var sentID: String? = nil
        if case .value(let id) = id { sentID = id }
        do {
            return EventRequest.Item(id: sentID, outcome: .success(try event(receivedAt: receivedAt, keyOrg: keyOrg)))
        } catch {
            return EventRequest.Item(id: sentID, outcome: .failure(error))
        }
    }

    private func event(receivedAt: Int64, keyOrg: String?) throws(EventRejection) -> ActivityEvent {
        guard isObject else { throw EventRejection("event", "must be a JSON object") }
        // Lengths count Unicode scalars, as SPEC says: a grapheme cluster can be any size.
        let id = try required(id, "id", "must be a string of 1 to 128 characters") { (1...128).contains($0.unicodeScalars.count) }
        let org = try optional(org, "org", "must be 1 to 64 characters of a-z, 0-9 and -", Org.isValid) ?? keyOrg ?? Org.default
        if let keyOrg, org != keyOrg { throw EventRejection("org", "this key may not write to org \(org.quoted)") }
        let rep = try required(rep, "rep", "must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -", isMemberID)
        let repName = try optional(repName, "rep_name", "must be a string of at most 100 characters") { $0.unicodeScalars.count <= 100 }
        let team = try optional(team, "team", "must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -", isMemberID)
        let kind = try required(kind, "kind", "must be a string of 1 to 64 characters") { (1...64).contains($0.unicodeScalars.count) }
        let value = try optional(value, "value", "must be finite and between 0 and 1e12") {
            $0.isFinite && $0 >= 0 && $0 <= 1e12
        } ?? 1
        let at = try optional(at, "at", "must be an RFC 3339 time such as 2026-11-29T14:05:00Z") {
            Timestamp.parse($0) != nil
        }.map { Timestamp.parse($0)! } ?? receivedAt
        if at > receivedAt + Timestamp.maxFutureSkew {
            throw EventRejection("at", "is more than 5 minutes ahead of the server clock")
        }
        return ActivityEvent(
            id: id, org: org, rep: rep, repName: repName.flatMap { $0.isEmpty ? nil : $0 }, team: team,
            kind: kind, value: value, at: at)
    }

    private func required<T>(
        _ field: Field<T>, _ name: String, _ rule: String, _ valid: (T) -> Bool
    ) throws(EventRejection) -> T {
        guard case .value(let value) = field else {
            if case .absent = field { throw EventRejection(name, "is required") }
            throw EventRejection(name, rule)
        }
        guard valid(value) else { throw EventRejection(name, rule) }
        return value
    }

    private func optional<T>(
        _ field: Field<T>, _ name: String, _ rule: String, _ valid: (T) -> Bool
    ) throws(EventRejection) -> T? {
        if case .absent = field { return nil }
        return try required(field, name, rule, valid)
    }
}

/// Rep and team ids: 1 to 64 characters of `[A-Za-z0-9._:@-]`.
package func isMemberID(_ id: String) -> Bool {
    (1...64).contains(id.utf8.count)
        && id.utf8.allSatisfy { byte in
            switch byte {
            case 65...90, 97...122, 48...57, 46, 95, 58, 64, 45: true
            default: false
            }
        }
}
