import Foundation
import Synchronization

/// Redis for async code. Each connection is owned by a thread of its own, so blocking I/O never
/// occupies the cooperative thread pool. The thread takes everything callers queued since it
/// last looked and runs it in order; script calls queued together go to Redis as one pipeline,
/// so a hundred concurrent reads cost one round trip, not a hundred. With several connections,
/// callers go to them in turn. Calls made one after another from one task happen in order.
package final class RedisClient: Sendable {
    package let configuration: RedisConfiguration
    private let lanes: [Lane]
    private let next = Atomic<Int>(0)

    package init(_ configuration: RedisConfiguration, label: String = "redis", connections: Int = 1) {
        self.configuration = configuration
        self.lanes = (0..<max(1, connections)).map { index in
            Lane(name: "redis-\(label.prefix(5))-\(index)", connection: RedisConnection(configuration))  // Linux keeps 15 characters
        }
    }

    deinit {
        for lane in lanes { lane.stop() }
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
            lane.submit(.run { connection in continuation.resume(with: Result { try body(connection) }) })
        }
    }

    /// Runs `script` once per call (EVALSHA, loading it when the server lacks it). Calls that
    /// other tasks queued meanwhile go out in the same pipeline. Error replies come back in
    /// place; a broken connection throws. If the server loses its scripts halfway through a
    /// pipeline, the whole pipeline runs again: use this for reads (and idempotent scripts).
    package func pipeline(_ script: RedisScript, calls: [(keys: [String], arguments: [String])]) async throws -> [RedisReply] {
        guard !calls.isEmpty else { return [] }
        let lane = lane
        return try await withCheckedThrowingContinuation { continuation in
            lane.submit(.script(script, calls, continuation))
        }
    }

    @discardableResult
    package func send(_ arguments: [String]) async throws -> RedisReply {
        try await withConnection { try $0.send(arguments) }
    }

    private enum Job: Sendable {
        case run(@Sendable (RedisConnection) -> Void)
        case script(RedisScript, [(keys: [String], arguments: [String])], CheckedContinuation<[RedisReply], any Error>)
    }

    /// A connection and the thread that owns it. `@unchecked Sendable` is safe: `connection`
    /// is only touched on that thread; the queue is behind its mutex.
    private final class Lane: @unchecked Sendable {
        private let connection: RedisConnection
        private let queue = Mutex(Queue())
        private let wake = DispatchSemaphore(value: 0)

        private struct Queue {
            var jobs: [Job] = []
            var sleeping = false
            var stopped = false
        }

        init(name: String, connection: RedisConnection) {
            self.connection = connection
            let thread = Thread { [self] in loop() }
            thread.name = name
            thread.start()
        }

        func submit(_ job: Job) {
            let wakeUp = queue.withLock { queue in
                queue.jobs.append(job)
                defer { queue.sleeping = false }
                return queue.sleeping
            }
            if wakeUp { wake.signal() }
        }

        func stop() {
            let wakeUp = queue.withLock { queue in
                queue.stopped = true
                defer { queue.sleeping = false }
                return queue.sleeping
            }
            if wakeUp { wake.signal() }
        }

        private func loop() {
            while true {
                let (jobs, stopped) = queue.withLock { queue in
                    defer { queue.jobs.removeAll(keepingCapacity: true) }
                    if queue.jobs.isEmpty && !queue.stopped { queue.sleeping = true }
                    return (queue.jobs, queue.stopped)
                }
                if stopped && jobs.isEmpty { return }
                if jobs.isEmpty {
                    wake.wait()
                    continue
                }
                run(jobs)
            }
        }

        /// Runs jobs in order; each run of script calls for one script is one pipeline.
        private func run(_ jobs: [Job]) {
            var index = 0
            while index < jobs.count {
                switch jobs[index] {
                case .run(let body):
                    body(connection)
                    index += 1
                case .script(let script, _, _):
                    var group: [(calls: [(keys: [String], arguments: [String])], continuation: CheckedContinuation<[RedisReply], any Error>)] = []
                    while index < jobs.count, case .script(let next, let calls, let continuation) = jobs[index], next == script {
                        group.append((calls, continuation))
                        index += 1
                    }
                    do {
                        var replies = try connection.pipeline(script, calls: group.flatMap(\.calls))[...]
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
