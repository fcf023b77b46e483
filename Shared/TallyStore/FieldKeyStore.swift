import Foundation
import Redis
import TallyDomain

/// A field app's CURVE public key, registered for one org: the app may send that org's events.
package struct FieldKey: Sendable, Equatable, Codable {
    package let id: String
    package let name: String
    package let publicKey: String
    /// RFC 3339, UTC.
    package let createdAt: String

    enum CodingKeys: String, CodingKey {
        case id, name
        case publicKey = "public_key"
        case createdAt = "created_at"
    }
}

/// Where field keys live: per org `{org}:field-keys` (id → `FieldKey` JSON), for listing; and
/// one index for every org, `tally:field-keys` (public key → "<org> <id>"), which each
/// ingestion instance reads whole when `tally:field-keys:version` has moved. The two index
/// keys have no hash tag, so they are only ever used by single-key commands (Redis Cluster).
package struct FieldKeyStore: Sendable {
    package static let index = "tally:field-keys"
    package static let version = "tally:field-keys:version"
    /// The most keys one org may register.
    package static let maxPerOrg = 10_000

    package let redis: RedisClient

    package init(redis: RedisClient) {
        self.redis = redis
    }

    /// Registers `publicKey` for `org`. A key registered already (for any org) is refused:
    /// one key answers for one org.
    package func add(org: String, publicKey: String, name: String) async throws -> FieldKey {
        guard CurveKey.isValid(publicKey) else { throw StoreError.invalid("public_key: must be a CURVE public key, 40 characters of Z85") }
        guard name.unicodeScalars.count <= 100 else { throw StoreError.invalid("name: must be a string of at most 100 characters") }
        let orgKey = Keys(org: org).fieldKeys
        guard (try await redis.send(["HLEN", orgKey]).int ?? 0) < Self.maxPerOrg else {
            throw StoreError.invalid("public_key: org '\(org)' has \(Self.maxPerOrg) field keys, the most it may have")
        }
        let key = FieldKey(id: "fk-" + randomHex(bytes: 6), name: name, publicKey: publicKey, createdAt: Timestamp.format(Timestamp.now()))
        // The index is claimed first and atomically, so two orgs racing for one key can't both have it.
        guard try await redis.send(["HSETNX", Self.index, publicKey, "\(org) \(key.id)"]).int == 1 else {
            if try await redis.send(["HGET", Self.index, publicKey]).string == Self.revoked {
                throw StoreError.invalid("public_key: this key was revoked; make a new key pair")
            }
            throw StoreError.invalid("public_key: this key is registered already")
        }
        let json = String(decoding: try JSONEncoder().encode(key), as: UTF8.self)
        _ = try await redis.send(["HSET", orgKey, key.id, json]).throwingError()
        _ = try await redis.send(["INCR", Self.version]).throwingError()
        return key
    }

    /// The org's keys, oldest first.
    package func list(org: String) async throws -> [FieldKey] {
        let reply = try await redis.send(["HVALS", Keys(org: org).fieldKeys])
        let keys = (reply.array ?? []).compactMap { $0.string.flatMap { try? JSONDecoder().decode(FieldKey.self, from: Data($0.utf8)) } }
        return keys.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// What a revoked key's index entry says from then on: a revoked key is never registered
    /// again, by any org (a device still holding it would otherwise write into the new org).
    static let revoked = "revoked"

    /// Revokes one of the org's keys; false when the org has no key of that id. The index
    /// entry goes first, so a key is never admitted once its revocation has begun.
    package func revoke(org: String, id: String) async throws -> Bool {
        let orgKey = Keys(org: org).fieldKeys
        guard let json = try await redis.send(["HGET", orgKey, id]).string,
            let key = try? JSONDecoder().decode(FieldKey.self, from: Data(json.utf8))
        else { return false }
        if try await redis.send(["HGET", Self.index, key.publicKey]).string == "\(org) \(id)" {
            _ = try await redis.send(["HSET", Self.index, key.publicKey, Self.revoked]).throwingError()
        }
        _ = try await redis.send(["INCR", Self.version]).throwingError()
        _ = try await redis.send(["HDEL", orgKey, id]).throwingError()
        return true
    }

    /// A change counter: it moves whenever a key is added or revoked (0 before the first).
    package func currentVersion() async throws -> Int {
        Int(try await redis.send(["GET", Self.version]).string ?? "0") ?? 0
    }

    /// One key's org and id; nil when it is not registered.
    package func registered(_ publicKey: String) async throws -> (org: String, id: String)? {
        try await redis.send(["HGET", Self.index, publicKey]).string.flatMap(Self.entry)
    }

    /// An index entry, "<org> <id>", read.
    private static func entry(_ value: String) -> (org: String, id: String)? {
        let parts = value.split(separator: " ", maxSplits: 1)
        return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
    }

    /// Every registered key, with its org and id.
    package func registered() async throws -> [String: (org: String, id: String)] {
        let reply = try await redis.send(["HGETALL", Self.index])
        let items = reply.array ?? []
        var keys: [String: (org: String, id: String)] = [:]
        for index in stride(from: 0, to: items.count - 1, by: 2) {
            guard let publicKey = items[index].string, let entry = items[index + 1].string.flatMap(Self.entry) else { continue }
            keys[publicKey] = entry
        }
        return keys
    }
}

/// CURVE keys as Z85 text.
package enum CurveKey {
    private static let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// 40 characters of the Z85 alphabet (32 bytes of key).
    package static func isValid(_ text: String) -> Bool {
        text.utf8.count == 40 && text.utf8.allSatisfy(alphabet.contains)
    }
}

/// `bytes` random bytes from the system's generator, as lowercase hex.
package func randomHex(bytes: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
}
