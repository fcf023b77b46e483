import CZeroMQ

/// A libzmq call that failed, with the library's own description of why.
public struct ZMQError: Error, CustomStringConvertible, Equatable {
    /// The `errno` value libzmq reported.
    public let code: Int32
    /// What was being done, e.g. `"bind tcp://*:5555"`.
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// The error libzmq reports for the calling thread's last failure.
    static func last(_ operation: String) -> ZMQError {
        ZMQError(code: zmq_errno(), operation: operation)
    }

    public var message: String { String(cString: zmq_strerror(code)) }
    public var description: String { "\(operation): \(message)" }

    /// The call would have blocked (`EAGAIN`).
    public var wouldBlock: Bool { code == EAGAIN }
    /// The context or socket was terminated while the call waited.
    public var isTerminated: Bool { code == ETERM }
}

/// Runs a libzmq call that returns -1 on failure and turns the failure into a thrown error.
@discardableResult
func check(_ operation: @autoclosure () -> String, _ call: () -> Int32) throws(ZMQError) -> Int32 {
    while true {
        let rc = call()
        if rc != -1 { return rc }
        let error = ZMQError.last(operation())
        // A signal handler ran while libzmq waited: the call is safe to repeat.
        if error.code == EINTR { continue }
        throw error
    }
}
