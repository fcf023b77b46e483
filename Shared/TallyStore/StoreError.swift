/// Why the store could not do what was asked, with a message that names the field. The
/// codes say what a caller can do about it (a transport maps them to its statuses); Redis's
/// own failures are `RedisError`s and pass through as they are.
package struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    package struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalid, notFound, unexpectedReply
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The request names something that cannot exist: a bad org, a period of the wrong shape.
        package static let invalid = Code(.invalid)
        /// What the request names does not exist: a board, a contest, a member on a board.
        package static let notFound = Code(.notFound)
        /// Redis answered a script with something the script never returns.
        package static let unexpectedReply = Code(.unexpectedReply)

        package var description: String { base.rawValue }
    }

    package let code: Code
    package let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package static func invalid(_ message: String) -> StoreError { StoreError(.invalid, message) }
    package static func notFound(_ message: String) -> StoreError { StoreError(.notFound, message) }
    package static func unexpectedReply(_ message: String) -> StoreError { StoreError(.unexpectedReply, message) }

    package var description: String { message }
}
