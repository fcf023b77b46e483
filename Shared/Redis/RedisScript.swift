/// A Lua script run on the server with EVALSHA, loaded on demand.
///
/// Hashed by its source's hash, worked out once: a connection looks its SHA1 up on every call,
/// and hashing a script of several kilobytes each time cost more than the call's own work.
package struct RedisScript: Sendable, Hashable {
    package let source: String
    private let sourceHash: Int

    package init(_ source: String) {
        self.source = source
        self.sourceHash = source.hashValue
    }

    package static func == (lhs: RedisScript, rhs: RedisScript) -> Bool {
        lhs.sourceHash == rhs.sourceHash && lhs.source == rhs.source
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(sourceHash)
    }
}
