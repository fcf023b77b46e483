/// A failed Redis call: the server's error reply, a lost or refused connection, or a bad URL.
package struct RedisError: Error, CustomStringConvertible, Equatable {
    package enum Kind: Sendable, Equatable {
        /// The server answered with an error reply (WRONGTYPE, NOSCRIPT, WRONGPASS, ...).
        case server
        /// The connection could not be made, or broke or timed out during the call.
        case connection
        /// The URL or options are wrong.
        case configuration
    }

    package let kind: Kind
    package let message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The first word of a server error, e.g. `WRONGTYPE`.
    package var code: String? {
        kind == .server ? message.split(separator: " ").first.map(String.init) : nil
    }

    package var description: String {
        switch kind {
        case .server: "redis: \(message)"
        case .connection: "redis connection: \(message)"
        case .configuration: "redis configuration: \(message)"
        }
    }
}
