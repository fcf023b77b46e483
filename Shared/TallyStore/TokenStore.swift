import CSodium
import Foundation
import Redis
import TallyDomain

/// An org token as listed: never its value, nor its hash.
package struct OrgToken: Sendable, Equatable, Codable {
    package let id: String
    package let name: String
    package let role: TokenRole
    /// RFC 3339, UTC.
    package let createdAt: String

    enum CodingKeys: String, CodingKey {
        case id, name, role
        case createdAt = "created_at"
    }
}

/// A token just made: the only answer that ever holds its value.
package struct MintedToken: Sendable, Equatable, Codable {
    package let id: String
    package let name: String
    package let role: TokenRole
    package let token: String
}

/// Org tokens, stored only as SHA-256 hashes, in the org's slot: `{org}:token-hashes` (hash →
/// "<id> <role>", what every request looks up) and `{org}:tokens` (id → record, for listing and
/// revoking). A token's value is `tly_<org>_<43 characters of base64url>` (256 random bits), so
/// a request names the slot its token lives in, and a token of another org is told apart from
/// one that is not valid anywhere with one `HGET`.
package struct TokenStore: Sendable {
    /// The most tokens one org may have.
    package static let maxPerOrg = 1_000
    static let prefix = "tly_"

    package let redis: RedisClient

    package init(redis: RedisClient) {
        self.redis = redis
    }

    /// The record as stored: the listed fields and the value's hash.
    private struct Stored: Codable {
        let id: String
        let name: String
        let role: TokenRole
        let createdAt: String
        let sha256: String

        enum CodingKeys: String, CodingKey {
            case id, name, role, sha256
            case createdAt = "created_at"
        }
    }

    /// Makes a token for `org`; its value is in the answer and nowhere else.
    package func create(org: String, role: TokenRole, name: String) async throws -> MintedToken {
        try await redis.withConnection { try Self.create(org: org, role: role, name: name, on: $0) }
    }

    /// `create`, blocking on one connection (for `tally up`, which mints its TV page's token).
    package static func create(org: String, role: TokenRole, name: String, on connection: RedisConnection) throws -> MintedToken {
        guard (1...100).contains(name.unicodeScalars.count) else { throw StoreError.invalid("name: must be a string of 1 to 100 characters") }
        let keys = Keys(org: org)
        for _ in 0..<3 {
            let value = Self.prefix + org + "_" + randomBase64URL(bytes: 32)
            let stored = Stored(
                id: "tk-" + randomHex(bytes: 6), name: name, role: role, createdAt: Timestamp.format(Timestamp.now()),
                sha256: Self.hash(value))
            let record = String(decoding: try JSONEncoder().encode(stored), as: UTF8.self)
            let reply = try connection.run(
                Scripts.createToken, keys: [keys.tokens, keys.tokenHashes],
                arguments: [stored.id, record, stored.sha256, "\(stored.id) \(role.rawValue)", String(Self.maxPerOrg)]
            ).throwingError()
            switch reply.int {
            case 1: return MintedToken(id: stored.id, name: name, role: role, token: value)
            case 0: throw StoreError.invalid("tokens: org \(org.quoted) has \(Self.maxPerOrg) tokens, the most it may have (revoke one first)")
            default: continue  // an id taken already: draw again
            }
        }
        throw StoreError.unexpectedReply("tokens: could not draw an unused token id")
    }

    /// The org's tokens, oldest first.
    package func list(org: String) async throws -> [OrgToken] {
        let reply = try await redis.send(["HVALS", Keys(org: org).tokens]).throwingError()
        let decoder = JSONDecoder()
        let tokens = (reply.array ?? []).compactMap { $0.string.flatMap { try? decoder.decode(OrgToken.self, from: Data($0.utf8)) } }
        return tokens.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// Revokes one of the org's tokens; false when the org has none of that id. The hash goes
    /// first, so the token is refused from the next request on.
    package func revoke(org: String, id: String) async throws -> Bool {
        let keys = Keys(org: org)
        guard let json = try await redis.send(["HGET", keys.tokens, id]).throwingError().string,
            let stored = try? JSONDecoder().decode(Stored.self, from: Data(json.utf8))
        else { return false }
        try await redis.withConnection { connection in
            for reply in try connection.pipeline([["HDEL", keys.tokenHashes, stored.sha256], ["HDEL", keys.tokens, id]]) {
                _ = try reply.throwingError()
            }
        }
        return true
    }

    // MARK: Looking a token up

    /// The one command that tells what an org token is: `HGET {org}:token-hashes <sha256>`,
    /// for a caller that puts it in a pipeline of its own; nil for a value that cannot be a
    /// token (then it is `.unknown` without asking Redis).
    package struct Lookup: Sendable, Hashable {
        /// The org the token says it belongs to.
        package let org: String
        package let command: [String]

        /// What Redis's reply to `command` says the caller is.
        package func caller(_ reply: RedisReply) throws(RedisError) -> Caller {
            guard let value = try reply.throwingError().string else { return .unknown }
            let parts = value.split(separator: " ")
            guard parts.count == 2, let role = TokenRole(rawValue: String(parts[1])) else { return .unknown }
            return .member(org: org, role: role, id: String(parts[0]))
        }
    }

    /// The look-up for `token`'s value; nil when it is not shaped as a token.
    package static func lookup(_ token: String) -> Lookup? {
        guard token.hasPrefix(prefix) else { return nil }
        let rest = token.dropFirst(prefix.count)
        guard let separator = rest.firstIndex(of: "_") else { return nil }
        let org = String(rest[..<separator])
        let secret = rest[rest.index(after: separator)...]
        guard Org.isValid(org), secret.utf8.count == 43 else { return nil }
        return Lookup(org: org, command: ["HGET", Keys(org: org).tokenHashes, hash(token)])
    }

    /// Who `token` says its sender is: no Redis for none, the admin token or a malformed
    /// value; otherwise one `HGET` in the token's org's slot, every time (no cache, so a
    /// revoked token is refused from the next request on).
    package func caller(_ token: String?, admin: AdminToken?) async throws -> Caller {
        switch Self.resolve(token, admin: admin) {
        case .known(let caller): return caller
        case .lookUp(let lookup): return try lookup.caller(try await redis.send(lookup.command))
        }
    }

    /// What is known of a token before Redis is asked: the caller, or the look-up to make.
    package enum Resolution: Sendable {
        case known(Caller)
        case lookUp(Lookup)
    }

    /// No token, the admin token and a malformed value are known at once; an org token needs
    /// its look-up (its value hashed once, here).
    package static func resolve(_ token: String?, admin: AdminToken?) -> Resolution {
        guard let token, !token.isEmpty else { return .known(.anonymous) }
        if let admin, admin.matches(token) { return .known(.admin) }
        guard let lookup = lookup(token) else { return .known(.unknown) }
        return .lookUp(lookup)
    }

    /// Who `token` says its sender is, blocking on one connection (the admin token aside).
    package static func caller(_ token: String, on connection: RedisConnection) throws -> Caller {
        switch resolve(token, admin: nil) {
        case .known(let caller): return caller
        case .lookUp(let lookup): return try lookup.caller(try connection.send(lookup.command))
        }
    }

    /// SHA-256 of a token's value, as lowercase hex.
    static func hash(_ value: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in sha256(value) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}

/// SHA-256 of `text`'s UTF-8 bytes (libsodium's, which needs no initialisation for hashing).
func sha256(_ text: String) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
    var bytes = Array(text.utf8)
    _ = crypto_hash_sha256(&digest, &bytes, UInt64(bytes.count))
    return digest
}

/// The operator's admin token, kept as its hash and compared in constant time.
package struct AdminToken: Sendable {
    private let digest: [UInt8]

    package init(_ value: String) {
        digest = sha256(value)
    }

    /// Whether `presented` is the admin token. Both sides are hashed first, so the time taken
    /// depends on neither value nor length.
    package func matches(_ presented: String) -> Bool {
        let other = sha256(presented)
        var difference: UInt8 = 0
        for index in 0..<digest.count { difference |= digest[index] ^ other[index] }
        return difference == 0
    }
}

/// `bytes` random bytes from the system's generator, as base64url without padding.
package func randomBase64URL(bytes: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    let data = Data((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
    return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}
