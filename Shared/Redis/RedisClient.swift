import Dispatch
import Synchronization

/// Redis for async code: every call runs on a serial queue of the client's own, so blocking
/// I/O never occupies the cooperative thread pool. With several connections, calls go to them
/// in turn, each connection on its queue, so concurrent requests do not wait for one another's
/// round trips. Calls made one after another from one task still happen in order.
package final class RedisClient: Sendable {
    package let configuration: RedisConfiguration
    private let lanes: [Lane]
    private let next = Atomic<Int>(0)

    package init(_ configuration: RedisConfiguration, label: String = "redis", connections: Int = 1) {
        self.configuration = configuration
        self.lanes = (0..<max(1, connections)).map { index in
            Lane(queue: DispatchQueue(label: "tally.\(label).\(index)"), connection: RedisConnection(configuration))
        }
    }

    /// Runs `body` with a connection, on that connection's queue.
    package func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (RedisConnection) throws -> T
    ) async throws -> T {
        let lane = lanes.count == 1 ? lanes[0] : lanes[next.wrappingAdd(1, ordering: .relaxed).oldValue % lanes.count]
        return try await withCheckedThrowingContinuation { continuation in
            lane.queue.async {
                continuation.resume(with: Result { try body(lane.connection) })
            }
        }
    }

    @discardableResult
    package func send(_ arguments: [String]) async throws -> RedisReply {
        try await withConnection { try $0.send(arguments) }
    }

    /// A connection only touched on its queue. `@unchecked Sendable` is safe because every
    /// access goes through `withConnection`, which runs on that one serial queue.
    private final class Lane: @unchecked Sendable {
        let queue: DispatchQueue
        let connection: RedisConnection
        init(queue: DispatchQueue, connection: RedisConnection) {
            self.queue = queue
            self.connection = connection
        }
    }
}
