/// A Lua script run on the server with EVALSHA, loaded on demand.
package struct RedisScript: Sendable, Hashable {
    package let source: String
    package init(_ source: String) { self.source = source }
}
