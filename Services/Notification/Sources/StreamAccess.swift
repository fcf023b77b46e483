import Redis
import TallyDomain
import TallyStore

/// Who may open a stream (SPEC "Access"): a viewer or organizer token of the stream's org, or
/// the admin token; anyone with `openReads`. A refused stream is closed with a code a browser
/// can read, 4401 (no valid token) or 4403 (a token of another org), mirroring HTTP's 401 and
/// 403, and a reason that says what is missing.
struct StreamAccess: Sendable {
    let tokens: TokenStore
    let admin: AdminToken?
    let policy: AccessPolicy

    static let unauthorized: UInt16 = 4401
    static let forbidden: UInt16 = 4403

    init(redis: RedisClient, adminToken: String?, openReads: Bool) {
        tokens = TokenStore(redis: redis)
        admin = adminToken.map(AdminToken.init)
        policy = AccessPolicy(openReads: openReads, hasAdminToken: adminToken != nil)
    }

    enum Admission: Sendable {
        /// Admitted; `held` is the org token to check again while the stream is open (nil for
        /// the admin token and open reads, which nothing revokes).
        case admitted(held: TokenStore.Lookup?)
        /// Closed with this code and reason.
        case refused(code: UInt16, reason: String)
    }

    /// Whether `token` may read `org`'s streams: one `HGET` for an org token.
    func admit(_ token: String?, org: String) async -> Admission {
        guard policy.needsCaller(for: .read) else { return .admitted(held: nil) }
        let caller: Caller
        do {
            caller = try await tokens.caller(token, admin: admin)
        } catch {
            return .refused(code: 1013, reason: "redis: unavailable; try again later")
        }
        do {
            try policy.check(caller, org: org, need: .read)
        } catch {
            // A close reason has at most 123 bytes: short forms (an org has at most 64 characters).
            let reason = switch (error.status, caller) {
            case (401, .anonymous): "token: this display needs a viewer token of org \(org.quoted)"
            case (401, _): "token: not a valid token (unknown or revoked)"
            default: "token: this token is of another org, not \(org.quoted)"
            }
            return .refused(code: error.status == 401 ? Self.unauthorized : Self.forbidden, reason: reason)
        }
        if case .member = caller, let token { return .admitted(held: TokenStore.lookup(token)) }
        return .admitted(held: nil)
    }
}
