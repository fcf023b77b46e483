import Foundation
import ServiceLifecycle
import Synchronization

/// Redis for async code. Each connection is owned by a thread of its own, so blocking I/O never
/// occupies the cooperative thread pool. The thread takes everything callers queued since it
/// last looked and runs it in order; pipelined calls queued together go to Redis as one
/// pipeline, so a hundred concurrent reads cost one round trip, not a hundred. With several
/// connections, callers go to them in turn. Calls made one after another from one task happen in order.
///
/// Making a client starts nothing: `run()` starts the connections' threads and, once it is
/// cancelled, ends them (as postgres-nio's `PostgresClient.run()` does). Calls made before
/// `run()` wait for it; calls made after it ended fail at once.
package final class RedisClient: Service, Sendable {
    package let configuration: RedisConfiguration
    private let lanes: [Lane]
    private let next = Atomic<Int>(0)
    private let started = Atomic<Bool>(false)

    package init(_ configuration: RedisConfiguration, label: String = "redis", connections: Int = 1) {
        self.configuration = configuration
        self.lanes = (0..<max(1, connections)).map { index in
            Lane(name: "redis-\(label.prefix(5))-\(index)", connection: RedisConnection(configuration))  // Linux keeps 15 characters
        }
    }

    /// Runs the connections' threads until the calling task is cancelled or a graceful
    /// shutdown begins; then lets each finish what was queued, ends them, and returns.
    /// A client runs once: a second call returns at once.
    package func run() async {
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        for lane in lanes { lane.start() }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(86_400)) }
        }
        for lane in lanes { await lane.stop() }
    }

    /// Runs `body` with a client that runs meanwhile, and ends the client after: for code that
    /// is not a service (tools, tests), as async-http-client's `withHTTPClient` does.
    package static func with<T: Sendable>(
        _ configuration: RedisConfiguration, label: String = "redis", connections: Int = 1,
        _ body: (RedisClient) async throws -> T
    ) async throws -> T {
        let client = RedisClient(configuration, label: label, connections: connections)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    private var lane: Lane {
        lanes.count == 1 ? lanes[0] : lanes[next.wrappingAdd(1, ordering: .relaxed).oldValue % lanes.count]
    }

    /// Runs `body` with a connection, on that connection's thread.
    package func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (RedisConnection) throws -> T
    ) async throws -> T {
        let lane = lane
        return try await withCheckedThrowingContinuation { continuation in
            lane.submit(.run { connection in
                continuation.resume(with: Result { try body(connection.get()) })
            })
        }
    }

    /// Runs `script` once per call (EVALSHA, loading it when the server lacks it). Calls that
    /// other tasks queued meanwhile go out in the same pipeline. Error replies come back in
    /// place; a broken connection throws. Calls the server refuses with NOSCRIPT run once more
    /// after their script is loaded again.
    package func pipeline(_ script: RedisScript, calls: [(keys: [String], arguments: [String])]) async throws -> [RedisReply] {
        try await pipeline(calls.map { RedisConnection.Call(script, keys: $0.keys, arguments: $0.arguments) })
    }

    /// Commands and script calls, in order, in one round trip, with the calls that other tasks
    /// queued meanwhile: a token's look-up and the read it guards, from a hundred concurrent
    /// requests, cost one round trip. Calls the server refuses with NOSCRIPT run once more
    /// after their script is loaded again.
    package func pipeline(_ calls: [RedisConnection.Call]) async throws -> [RedisReply] {
        guard !calls.isEmpty else { return [] }
        let lane = lane
        return try await withCheckedThrowingContinuation { continuation in
            lane.submit(.calls(calls, continuation))
        }
    }

    @discardableResult
    package func send(_ arguments: [String]) async throws -> RedisReply {
        try await withConnection { try $0.send(arguments) }
    }

    /// Why a call made after `run()` ended fails.
    static let shutDown = RedisError(.connection, "the Redis client has shut down")

    private enum Job: Sendable {
        /// Handed the connection, or the reason there is none.
        case run(@Sendable (Result<RedisConnection, RedisError>) -> Void)
        /// Pipelined with the `calls` jobs next to it.
        case calls([RedisConnection.Call], CheckedContinuation<[RedisReply], any Error>)

        func fail(_ error: RedisError) {
            switch self {
            case .run(let body): body(.failure(error))
            case .calls(_, let continuation): continuation.resume(throwing: error)
            }
        }
    }

    /// A connection and the thread that owns it. `@unchecked Sendable` is safe: `connection`
    /// is only touched on that thread; the queue is behind its mutex.
    private final class Lane: @unchecked Sendable {
        private let name: String
        private let connection: RedisConnection
        private let queue = Mutex(Queue())
        private let wake = DispatchSemaphore(value: 0)

        private struct Queue {
            var jobs: [Job] = []
            var sleeping = false
            var stopping = false
            /// Set once the thread has ended: later jobs fail at once.
            var ended = false
            var whenEnded: CheckedContinuation<Void, Never>?
        }

        init(name: String, connection: RedisConnection) {
            self.name = name
            self.connection = connection
        }

        func start() {
            let thread = Thread { [self] in
                Thread.nameCurrent(name)
                loop()
                let waiter = queue.withLock { queue in
                    queue.ended = true
                    return queue.whenEnded.take()
                }
                waiter?.resume()
            }
            thread.start()
        }

        func submit(_ job: Job) {
            let (wakeUp, refused) = queue.withLock { queue -> (Bool, Bool) in
                guard !queue.stopping else { return (false, true) }
                queue.jobs.append(job)
                defer { queue.sleeping = false }
                return (queue.sleeping, false)
            }
            if refused { job.fail(RedisClient.shutDown) }
            if wakeUp { wake.signal() }
        }

        /// Lets the thread finish what is queued, then returns once it has ended.
        func stop() async {
            await withCheckedContinuation { continuation in
                let (wakeUp, ended) = queue.withLock { queue -> (Bool, Bool) in
                    queue.stopping = true
                    if queue.ended { return (false, true) }
                    queue.whenEnded = continuation
                    defer { queue.sleeping = false }
                    return (queue.sleeping, false)
                }
                if ended { continuation.resume() }
                if wakeUp { wake.signal() }
            }
        }

        private func loop() {
            while true {
                let (jobs, stopping) = queue.withLock { queue in
                    defer { queue.jobs.removeAll(keepingCapacity: true) }
                    if queue.jobs.isEmpty && !queue.stopping { queue.sleeping = true }
                    return (queue.jobs, queue.stopping)
                }
                if stopping && jobs.isEmpty {
                    connection.disconnect()
                    return
                }
                if jobs.isEmpty {
                    wake.wait()
                    continue
                }
                run(jobs)
            }
        }

        /// Runs jobs in order; each run of `calls` jobs is one pipeline.
        private func run(_ jobs: [Job]) {
            var index = 0
            while index < jobs.count {
                switch jobs[index] {
                case .run(let body):
                    body(.success(connection))
                    index += 1
                case .calls:
                    var group: [(calls: [RedisConnection.Call], continuation: CheckedContinuation<[RedisReply], any Error>)] = []
                    while index < jobs.count, case .calls(let calls, let continuation) = jobs[index] {
                        group.append((calls, continuation))
                        index += 1
                    }
                    do {
                        var replies = try connection.pipeline(group.flatMap(\.calls))[...]
                        for (calls, continuation) in group {
                            continuation.resume(returning: Array(replies.prefix(calls.count)))
                            replies = replies.dropFirst(calls.count)
                        }
                    } catch {
                        for (_, continuation) in group { continuation.resume(throwing: error) }
                    }
                }
            }
        }
    }
}
