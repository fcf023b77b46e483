import Synchronization
import ZeroMQ

/// Tells a thread blocked in `zmq_poll` that it should wind down: poll `fileDescriptor`.
package final class StopSignal: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let waker = Waker()

    package init() {}

    package var isStopped: Bool { stopped.load(ordering: .acquiring) }
    package var fileDescriptor: Int32 { waker.fileDescriptor }

    package func stop() {
        stopped.store(true, ordering: .releasing)
        waker.wake()
    }
}
