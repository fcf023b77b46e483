/// What an org token lets its holder do.
package enum TokenRole: String, Sendable, Codable, CaseIterable {
    /// Every read of its org: boards, members, contests, streams, the TV page.
    case viewer
    /// A viewer's reads, plus contests, the rep directory and field keys.
    case organizer
}

/// Who a request's credential says its sender is, once the token was looked up.
package enum Caller: Sendable, Equatable {
    /// No token at all.
    case anonymous
    /// A token that is not valid: malformed, unknown or revoked.
    case unknown
    /// The operator's admin token.
    case admin
    /// An org token, with its id.
    case member(org: String, role: TokenRole, id: String)
}

/// How much an operation asks of its caller.
package enum AccessNeed: Sendable, Equatable {
    /// Reading boards, members, contests, streams.
    case read
    /// Changing what the org shows: contests, the rep directory, field keys.
    case write
    /// Managing the org's tokens.
    case admin
}

/// Why a caller was refused, with the HTTP status it maps to (401: no valid credential,
/// 403: a valid one that may not do this); the message names the field, `token`.
package struct AccessRefusal: Error, Sendable, Equatable {
    package let status: Int
    package let message: String

    package init(status: Int, message: String) {
        self.status = status
        self.message = message
    }
}

/// The SPEC's access rules, decided without I/O: the admin token may do everything in every
/// org; an organizer reads and writes its org; a viewer reads it; with `openReads`, anyone
/// reads. Writes always need a token.
package struct AccessPolicy: Sendable, Equatable {
    package var openReads: Bool
    /// Whether the service was given an admin token (without one, token management is off).
    package var hasAdminToken: Bool

    package init(openReads: Bool, hasAdminToken: Bool) {
        self.openReads = openReads
        self.hasAdminToken = hasAdminToken
    }

    /// Whether the caller must be looked up at all: a read with open reads needs no token.
    package func needsCaller(for need: AccessNeed) -> Bool {
        !(need == .read && openReads)
    }

    /// Allows `caller` to do what `need` says in `org`, or says why not.
    package func check(_ caller: Caller, org: String, need: AccessNeed) throws(AccessRefusal) {
        guard needsCaller(for: need) else { return }
        switch caller {
        case .admin:
            return
        case .anonymous:
            throw AccessRefusal(status: 401, message: "token: is required: \(Self.wanted(need, org: org, admin: hasAdminToken))")
        case .unknown:
            throw AccessRefusal(status: 401, message: "token: not a valid token (unknown or revoked)")
        case .member(let tokenOrg, let role, _):
            guard tokenOrg == org else {
                throw AccessRefusal(status: 403, message: "token: a token of org \(tokenOrg.quoted) may not be used for org \(org.quoted)")
            }
            switch (need, role) {
            case (.read, _), (.write, .organizer):
                return
            case (.write, .viewer):
                throw AccessRefusal(status: 403, message: "token: a viewer token may only read; this needs an organizer token")
            case (.admin, _):
                throw AccessRefusal(status: 403, message: "token: managing tokens needs the admin token")
            }
        }
    }

    private static func wanted(_ need: AccessNeed, org: String, admin: Bool) -> String {
        switch need {
        case .read: "a viewer or organizer token of org \(org.quoted), or the admin token"
        case .write: "an organizer token of org \(org.quoted), or the admin token"
        case .admin: admin ? "the admin token" : "the admin token, and this server has none (start it with --admin-token)"
        }
    }
}
