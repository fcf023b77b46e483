import CZeroMQ

/// A ZeroMQ context: the I/O threads behind every socket made from it. Thread-safe.
public final class Context: Sendable {
    /// The process-wide context every service uses.
    public static let shared = try! Context()

    // libzmq documents the context as thread-safe; the pointer is never reassigned.
    nonisolated(unsafe) let handle: UnsafeMutableRawPointer

    public init(ioThreads: Int32 = 1) throws(ZMQError) {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        self.handle = handle
        try check("zmq_ctx_set ZMQ_IO_THREADS") { zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) }
    }

    deinit {
        // Sockets close with a linger; termination waits for them.
        while zmq_ctx_term(handle) == -1 && zmq_errno() == EINTR {}
    }
}

/// The libzmq version this process runs against, e.g. `4.3.4`.
public var libzmqVersion: String {
    var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
    zmq_version(&major, &minor, &patch)
    return "\(major).\(minor).\(patch)"
}
