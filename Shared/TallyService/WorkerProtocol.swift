import Foundation
import TallyDomain

/// The messages between tally-ingestion's worker socket (ROUTER) and tally-scoring workers
/// (DEALER). Each message is a command frame, then its arguments:
///
/// - worker → ingestion: `READY`; `HB`; `DONE <job> <JobResult JSON>`; `BYE`
/// - ingestion → worker: `JOB <job> <Job, encoded>`; `HB`; `BYE`
///
/// A worker that stops says `BYE` and goes on answering jobs until ingestion's `BYE` says it
/// holds none for it: a job already on its way when the worker decided to stop is answered,
/// not given back.
package enum WorkerCommand: String, Sendable {
    case ready = "READY"
    case heartbeat = "HB"
    case job = "JOB"
    case done = "DONE"
    case bye = "BYE"

    package var frame: Data { Data(rawValue.utf8) }

    package init?(frame: Data) {
        self.init(rawValue: String(decoding: frame, as: UTF8.self))
    }
}

/// A batch of valid events, possibly from many requests and orgs.
///
/// On the wire each event is its fields in a fixed order: strings as a 4-byte length and
/// UTF-8 (length 0xFFFFFFFF for an absent rep name or team), then `value` and `at` as 8 bytes
/// each, all little-endian. Events follow one another with nothing between, so jobs
/// encoded apart and put end to end are the job of all their events. Ingestion has already checked every event; this is only how
/// they travel to a worker, and it costs a fraction of JSON to write and read.
package struct Job: Sendable, Equatable {
    package var events: [ActivityEvent]
    package init(events: [ActivityEvent]) { self.events = events }

    package struct Malformed: Error, CustomStringConvertible {
        package var description: String { "job: truncated or malformed" }
    }

    package func encoded() -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(events.count * 96)
        func append(_ value: UInt64, width: Int) {
            for shift in stride(from: 0, to: width * 8, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        func append(_ text: String?) {
            guard let text else { return append(UInt64(UInt32.max), width: 4) }
            append(UInt64(text.utf8.count), width: 4)
            bytes.append(contentsOf: text.utf8)
        }
        for event in events {
            append(event.id)
            append(event.org)
            append(event.rep)
            append(event.repName)
            append(event.team)
            append(event.kind)
            append(event.value.bitPattern, width: 8)
            append(UInt64(bitPattern: event.at), width: 8)
        }
        return Data(bytes)
    }

    package init(encoded data: Data) throws(Malformed) {
        let bytes = [UInt8](data)
        var offset = 0
        func integer(width: Int) throws(Malformed) -> UInt64 {
            guard bytes.count - offset >= width else { throw Malformed() }
            var value: UInt64 = 0
            for index in 0..<width { value |= UInt64(bytes[offset + index]) << UInt64(8 * index) }
            offset += width
            return value
        }
        func text() throws(Malformed) -> String? {
            let length = try integer(width: 4)
            if length == UInt64(UInt32.max) { return nil }
            guard UInt64(bytes.count - offset) >= length else { throw Malformed() }
            defer { offset += Int(length) }
            guard let text = String(validating: bytes[offset..<offset + Int(length)], as: UTF8.self) else { throw Malformed() }
            return text
        }
        func required() throws(Malformed) -> String {
            guard let value = try text() else { throw Malformed() }
            return value
        }
        var events: [ActivityEvent] = []
        while offset < bytes.count {
            let (id, org, rep) = (try required(), try required(), try required())
            let (repName, team, kind) = (try text(), try text(), try required())
            let value = Double(bitPattern: try integer(width: 8))
            let at = Int64(bitPattern: try integer(width: 8))
            events.append(ActivityEvent(id: id, org: org, rep: rep, repName: repName, team: team, kind: kind, value: value, at: at))
        }
        self.events = events
    }
}

/// What happened to each event of a job, in the job's order; or why none could be applied.
///
/// On the wire, one letter per event (`a` accepted, `d` duplicate, `r` rejected) and the
/// reasons for rejections by position: `{"outcomes":"aada","rejections":{"2":"kind: ..."}}`.
/// Event ids are not sent back: ingestion has them. A job of a thousand accepted events is a
/// thousand bytes, not a list of a thousand objects to encode and decode.
package struct JobResult: Sendable {
    package var statuses: [EventStatus]
    /// Set when the job could not be applied at all (Redis unreachable): nothing was counted.
    package var error: String?

    package init(statuses: [EventStatus], error: String? = nil) {
        self.statuses = statuses
        self.error = error
    }

    /// The longest a rejection's reason or the error travels, in Unicode scalars; longer
    /// ones are cut. It bounds a result's size whatever the events said.
    package static let maxReasonScalars = 160

    /// The most bytes a result of `events` events can encode to: per event its letter and,
    /// if rejected, `"<position>":"<reason>",` with every scalar escaped at worst as `\uXXXX`.
    package static func maxEncodedBytes(events: Int) -> Int {
        let reason = 6 * maxReasonScalars
        return 1_024 + reason + events * (1 + 16 + reason)
    }

    fileprivate static func cut(_ text: String) -> String {
        guard text.unicodeScalars.count > maxReasonScalars else { return text }
        var head = String.UnicodeScalarView()
        head.append(contentsOf: text.unicodeScalars.prefix(maxReasonScalars))
        return String(head)
    }
}

extension JobResult: Codable {
    private enum CodingKeys: String, CodingKey { case outcomes, rejections, error }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var outcomes = ""
        var rejections: [String: String] = [:]
        for (position, status) in statuses.enumerated() {
            switch status.status {
            case .accepted: outcomes.append("a")
            case .duplicate: outcomes.append("d")
            case .rejected:
                outcomes.append("r")
                rejections[String(position)] = Self.cut(status.error ?? "rejected")
            }
        }
        try container.encode(outcomes, forKey: .outcomes)
        if !rejections.isEmpty { try container.encode(rejections, forKey: .rejections) }
        try container.encodeIfPresent(error.map(Self.cut), forKey: .error)
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let rejections = try container.decodeIfPresent([String: String].self, forKey: .rejections) ?? [:]
        statuses = try container.decode(String.self, forKey: .outcomes).utf8.enumerated().map { position, letter in
            switch letter {
            case UInt8(ascii: "a"): return EventStatus(id: nil, status: .accepted)
            case UInt8(ascii: "d"): return EventStatus(id: nil, status: .duplicate)
            case UInt8(ascii: "r"): return EventStatus(id: nil, status: .rejected, error: rejections[String(position)])
            default:
                throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.outcomes], debugDescription: "outcome '\(UnicodeScalar(letter))' is not a, d or r"))
            }
        }
        error = try container.decodeIfPresent(String.self, forKey: .error)
    }
}

/// The fate of one event, as the field app is told.
package struct EventStatus: Codable, Sendable, Equatable {
    package enum Status: String, Codable, Sendable {
        case accepted, duplicate, rejected
    }

    package var id: String?
    package var status: Status
    package var error: String?

    package init(id: String?, status: Status, error: String? = nil) {
        self.id = id
        self.status = status
        self.error = error
    }
}

/// What ingestion answers a field app.
package struct IngestReply: Codable, Sendable, Equatable {
    package var ok: Bool
    package var op: String?
    package var results: [EventStatus]?
    package var error: String?
    package var retryAfterMs: Int?

    package init(ok: Bool, op: String? = nil, results: [EventStatus]? = nil, error: String? = nil, retryAfterMs: Int? = nil) {
        self.ok = ok
        self.op = op
        self.results = results
        self.error = error
        self.retryAfterMs = retryAfterMs
    }

    enum CodingKeys: String, CodingKey {
        case ok, op, results, error, retryAfterMs = "retry_after_ms"
    }
}
