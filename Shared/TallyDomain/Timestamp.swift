import Foundation

/// Times on the wire are RFC 3339 text; inside Tally they are milliseconds since 1970 UTC.
package enum Timestamp {
    /// Events may be stamped at most this far ahead of the server clock (5 minutes).
    package static let maxFutureSkew: Int64 = 5 * 60 * 1000

    package static func now() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }

    /// Parses `2026-11-29T14:05:00Z`, `2026-11-29T15:05:00.250+01:00` and the like.
    package static func parse(_ text: String) -> Int64? {
        let text = text.replacingOccurrences(of: "t", with: "T").replacingOccurrences(of: "z", with: "Z")
        let date =
            (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: false)))
            ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        return date.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }

    /// `2026-11-29T14:05:00.250Z`.
    package static func format(_ milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            .formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
