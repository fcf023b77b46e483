import Foundation

/// One reply from Redis, as typed as the protocol makes it.
package enum RedisReply: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk(Data)
    case null
    case array([RedisReply])

    /// A bulk or status reply as text; an integer as its digits.
    package var string: String? {
        switch self {
        case .bulk(let data): String(decoding: data, as: UTF8.self)
        case .status(let text): text
        case .integer(let value): String(value)
        default: nil
        }
    }

    /// An integer reply, or a bulk reply holding an integer.
    package var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk: string.flatMap { Int64($0) }
        default: nil
        }
    }

    /// A bulk reply holding a number, as sorted-set scores are returned.
    package var double: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .bulk: string.flatMap { Double($0) }
        default: nil
        }
    }

    package var array: [RedisReply]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// Throws an error reply, returns any other.
    package func throwingError() throws(RedisError) -> RedisReply {
        if case .error(let message) = self { throw RedisError(.server, message) }
        return self
    }
}
