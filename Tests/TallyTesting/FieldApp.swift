import Foundation
import ZeroMQ

/// A field app as a test plays it: a REQ socket that sends one JSON request and waits for
/// the reply.
package final class FieldApp {
    private var socket: Socket
    private let endpoint: String
    private let options: [SocketOption]

    /// `options`: what else its socket needs, such as CURVE keys (`CurveKeyPair.clientOptions`);
    /// `timeout`: how long it waits for a reply, in milliseconds.
    package init(_ endpoint: String, options: [SocketOption] = [], timeout: Int32 = 10_000) throws {
        self.endpoint = endpoint
        self.options = [.receiveTimeout(milliseconds: timeout)] + options
        socket = try Self.connect(endpoint, options: self.options)
    }

    private static func connect(_ endpoint: String, options: [SocketOption]) throws -> Socket {
        let socket = try Socket(.req, options: [.linger(milliseconds: 0)] + options)
        try socket.connect(endpoint)
        return socket
    }

    /// Sends a request and returns the reply, or nil when none came within the timeout (the
    /// socket is then replaced, as a REQ client must).
    package func request(_ body: String) throws -> Reply? {
        try request(Data(body.utf8))
    }

    package func request(_ body: Data) throws -> Reply? {
        try socket.send(body)
        guard let frames = try socket.receive() else {
            socket = try Self.connect(endpoint, options: options)
            return nil
        }
        return try JSONDecoder().decode(Reply.self, from: frames[0])
    }
}

/// The reply a field app reads, decoded here independently of the service's own types.
package struct Reply: Decodable, Equatable {
    package struct Result: Decodable, Equatable {
        package let id: String?
        package let status: String
        package let error: String?

        package init(id: String?, status: String, error: String?) {
            self.id = id
            self.status = status
            self.error = error
        }
    }

    package let ok: Bool
    package let op: String?
    package let results: [Result]?
    package let error: String?
    package let retry_after_ms: Int?

    package init(ok: Bool, op: String?, results: [Result]?, error: String?, retry_after_ms: Int?) {
        self.ok = ok
        self.op = op
        self.results = results
        self.error = error
        self.retry_after_ms = retry_after_ms
    }
}

/// One JSON event, as a field app would build it.
package func eventJSON(
    id: String, org: String? = nil, rep: String, name: String? = nil, team: String? = nil,
    kind: String, value: Double? = nil, at: String? = nil
) -> String {
    var fields: [String: Any] = ["id": id, "rep": rep, "kind": kind]
    if let org { fields["org"] = org }
    if let name { fields["rep_name"] = name }
    if let team { fields["team"] = team }
    if let value { fields["value"] = value }
    if let at { fields["at"] = at }
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

package func batchJSON(_ events: [String]) -> String {
    "{\"events\":[" + events.joined(separator: ",") + "]}"
}

/// RFC 3339 text of an instant, as a field app sends `at`.
package func rfc3339(_ date: Date) -> String {
    date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
}

/// The period labels of an instant in a time zone (`today`, `week`, `month`, `quarter`,
/// `year`, `all`), worked out with Foundation's ISO 8601 calendar, independently of Tally's
/// own period arithmetic.
package func calendarPeriods(_ date: Date, zone: TimeZone = TimeZone(identifier: "UTC")!) -> [String: String] {
    var calendar = Calendar(identifier: .iso8601)
    calendar.timeZone = zone
    let c = calendar.dateComponents([.year, .month, .day, .weekOfYear, .yearForWeekOfYear], from: date)
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return [
        "today": "\(c.year!)-\(two(c.month!))-\(two(c.day!))",
        "week": "\(c.yearForWeekOfYear!)-W\(two(c.weekOfYear!))",
        "month": "\(c.year!)-\(two(c.month!))",
        "quarter": "\(c.year!)-Q\((c.month! - 1) / 3 + 1)",
        "year": "\(c.year!)",
        "all": "all",
    ]
}
