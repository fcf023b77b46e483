import TallyStore

/// Why an operation failed, with the HTTP status it maps to; the message names the field.
package struct OperationError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
        case badRequest, unauthorized, forbidden, notFound, conflict, unavailable

        package var httpStatus: Int {
            switch self {
            case .badRequest: 400
            case .unauthorized: 401
            case .forbidden: 403
            case .notFound: 404
            case .conflict: 409
            case .unavailable: 503
            }
        }
    }

    package let kind: Kind
    package let message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }
}

extension OperationError {
    /// What the store said, with the status that fits it.
    init(_ error: StoreError) {
        let kind: Kind = switch error.code {
        case .invalid: .badRequest
        case .notFound: .notFound
        default: .unavailable
        }
        self.init(kind, error.message)
    }
}
