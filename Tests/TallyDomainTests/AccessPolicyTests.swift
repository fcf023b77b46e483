import TallyDomain
import Testing

/// The SPEC's access table, decided without I/O: every caller against every need, in the org
/// and in another.
@Suite struct AccessPolicyTests {
    static let viewer = Caller.member(org: "acme", role: .viewer, id: "tk-1")
    static let organizer = Caller.member(org: "acme", role: .organizer, id: "tk-2")
    static let stranger = Caller.member(org: "other", role: .organizer, id: "tk-3")

    /// Caller, need, and the status it gets in org acme with reads closed (200: allowed).
    static let closed: [(Caller, AccessNeed, Int)] = [
        (.admin, .read, 200), (.admin, .write, 200), (.admin, .admin, 200),
        (viewer, .read, 200), (viewer, .write, 403), (viewer, .admin, 403),
        (organizer, .read, 200), (organizer, .write, 200), (organizer, .admin, 403),
        (stranger, .read, 403), (stranger, .write, 403), (stranger, .admin, 403),
        (.anonymous, .read, 401), (.anonymous, .write, 401), (.anonymous, .admin, 401),
        (.unknown, .read, 401), (.unknown, .write, 401), (.unknown, .admin, 401),
    ]

    static func status(_ policy: AccessPolicy, _ caller: Caller, _ need: AccessNeed) -> Int {
        do {
            try policy.check(caller, org: "acme", need: need)
            return 200
        } catch {
            return error.status
        }
    }

    @Test(arguments: closed)
    func closedReads(caller: Caller, need: AccessNeed, expected: Int) {
        #expect(Self.status(AccessPolicy(openReads: false, hasAdminToken: true), caller, need) == expected)
    }

    /// Open reads change reads alone: anyone reads, and everything else is as closed.
    @Test(arguments: closed)
    func openReads(caller: Caller, need: AccessNeed, expected: Int) {
        let policy = AccessPolicy(openReads: true, hasAdminToken: true)
        #expect(Self.status(policy, caller, need) == (need == .read ? 200 : expected))
        #expect(policy.needsCaller(for: need) == (need != .read))
    }

    @Test func refusalsNameTheFieldAndSayWhatIsMissing() {
        let policy = AccessPolicy(openReads: false, hasAdminToken: false)
        func message(_ caller: Caller, _ need: AccessNeed) -> String? {
            do { try policy.check(caller, org: "acme", need: need); return nil } catch { return error.message }
        }
        #expect(message(.anonymous, .read) == "token: is required: a viewer or organizer token of org 'acme', or the admin token")
        #expect(message(.anonymous, .admin) == "token: is required: the admin token, and this server has none (start it with --admin-token)")
        #expect(message(Self.stranger, .read) == "token: a token of org 'other' may not be used for org 'acme'")
        #expect(message(Self.viewer, .write) == "token: a viewer token may only read; this needs an organizer token")
        #expect(message(Self.organizer, .admin) == "token: managing tokens needs the admin token")
        #expect(message(.unknown, .read) == "token: not a valid token (unknown or revoked)")
    }
}
