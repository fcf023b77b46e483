import Foundation
import Redis
import TallyDomain
import TallyStore
import TallyTesting
import Testing

/// Org tokens against a real redis-server: stored as SHA-256 only (checked with `sha256sum`,
/// not the store's own hashing), looked up in the org's slot, gone from the next look-up once
/// revoked.
@Suite struct TokenStoreTests {
    let fixture: StoreFixture
    var store: TokenStore { TokenStore(redis: fixture.client) }

    init() throws { fixture = try StoreFixture() }

    /// SHA-256 of `text` as coreutils' `sha256sum` prints it.
    static func sha256sum(_ text: String) throws -> String {
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        try Data(text.utf8).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let process = try ChildProcess(URL(fileURLWithPath: "/usr/bin/sha256sum"), [input.path], logFile: input.appendingPathExtension("out"))
        process.wait()
        return String(process.output.prefix(64))
    }

    @Test func aTokenIsStoredAsItsHashAndLookedUpInItsOrg() async throws {
        let minted = try await store.create(org: "acme", role: .organizer, name: "Sales ops")
        #expect(minted.token.wholeMatch(of: /tly_acme_[A-Za-z0-9_-]{43}/) != nil, "\(minted.token)")
        let hashes = try fixture.connection.send("HGETALL", "{acme}:token-hashes").array?.compactMap(\.string) ?? []
        #expect(hashes == [try Self.sha256sum(minted.token), "\(minted.id) organizer"])
        let record = try #require(try fixture.connection.send("HGET", "{acme}:tokens", minted.id).string)
        #expect(!record.contains(String(minted.token.suffix(43))))

        #expect(try await store.caller(minted.token, admin: nil) == .member(org: "acme", role: .organizer, id: minted.id))
        let listed = try await store.list(org: "acme")
        #expect(listed.map { "\($0.id) \($0.role) \($0.name)" } == ["\(minted.id) organizer Sales ops"])
        // One character off, another org's prefix, no prefix: not valid.
        var altered = Array(minted.token)
        altered[altered.count - 1] = altered.last == "A" ? "B" : "A"
        #expect(try await store.caller(String(altered), admin: nil) == .unknown)
        #expect(try await store.caller(minted.token.replacingOccurrences(of: "tly_acme_", with: "tly_globex_"), admin: nil) == .unknown)
        #expect(try await store.caller(String(minted.token.dropFirst(4)), admin: nil) == .unknown)
        #expect(try await store.caller(nil, admin: nil) == .anonymous)
        #expect(try await store.caller("", admin: nil) == .anonymous)
    }

    @Test func theAdminTokenIsRecognisedAndNothingElse() async throws {
        let admin = AdminToken("correct horse battery staple")
        #expect(admin.matches("correct horse battery staple"))
        #expect(!admin.matches("correct horse battery stapl"))
        #expect(!admin.matches("correct horse battery staple "))
        #expect(!admin.matches(""))
        #expect(try await store.caller("correct horse battery staple", admin: admin) == .admin)
        #expect(try await store.caller("correct horse battery staple", admin: nil) == .unknown)
    }

    @Test func aRevokedTokenIsGoneFromTheNextLookUp() async throws {
        let kept = try await store.create(org: "acme", role: .viewer, name: "Lobby")
        let revoked = try await store.create(org: "acme", role: .viewer, name: "Old TV")
        #expect(try await store.revoke(org: "acme", id: revoked.id))
        #expect(try await store.caller(revoked.token, admin: nil) == .unknown)
        #expect(try await store.caller(kept.token, admin: nil) == .member(org: "acme", role: .viewer, id: kept.id))
        #expect(try await store.list(org: "acme").map(\.id) == [kept.id])
        #expect(try await store.revoke(org: "acme", id: revoked.id) == false)
        #expect(try await store.revoke(org: "globex", id: kept.id) == false, "an id of another org")
        #expect(try fixture.connection.send("HLEN", "{acme}:token-hashes").int == 1)
    }

    @Test func aNameIsRequiredAndBounded() async throws {
        await #expect(throws: StoreError.invalid("name: must be a string of 1 to 100 characters")) {
            _ = try await store.create(org: "acme", role: .viewer, name: "")
        }
        await #expect(throws: StoreError.invalid("name: must be a string of 1 to 100 characters")) {
            _ = try await store.create(org: "acme", role: .viewer, name: String(repeating: "n", count: 101))
        }
    }
}
