import Dispatch

/// A Redis connection for async code: every call runs on the client's own serial queue, so
/// blocking I/O never occupies the cooperative thread pool.
package final class RedisClient: Sendable {
    package let configuration: RedisConfiguration
    private let queue: DispatchQueue
    private let connection: Confined

    package init(_ configuration: RedisConfiguration, label: String = "redis") {
        self.configuration = configuration
        self.queue = DispatchQueue(label: "tally.\(label)")
        self.connection = Confined(RedisConnection(configuration))
    }

    /// Runs `body` with the connection, on the client's queue.
    package func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (RedisConnection) throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(self.connection.value) })
            }
        }
    }

    @discardableResult
    package func send(_ arguments: [String]) async throws -> RedisReply {
        try await withConnection { try $0.send(arguments) }
    }

    /// A connection only touched on `queue`. `@unchecked Sendable` is safe because every
    /// access goes through `withConnection`, which runs on that one serial queue.
    private final class Confined: @unchecked Sendable {
        let value: RedisConnection
        init(_ value: RedisConnection) { self.value = value }
    }
}
