import Foundation
import TallyDomain

/// The messages between tally-ingestion's worker socket (ROUTER) and tally-scoring workers
/// (DEALER). Each message is a command frame, then its arguments:
///
/// - worker → ingestion: `READY`; `HB`; `DONE <job> <JobResult JSON>`; `BYE`
/// - ingestion → worker: `JOB <job> <Job JSON>`; `HB`
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
package struct Job: Codable, Sendable {
    package var events: [ActivityEvent]
    package init(events: [ActivityEvent]) { self.events = events }
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
                rejections[String(position)] = status.error ?? "rejected"
            }
        }
        try container.encode(outcomes, forKey: .outcomes)
        if !rejections.isEmpty { try container.encode(rejections, forKey: .rejections) }
        try container.encodeIfPresent(error, forKey: .error)
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
