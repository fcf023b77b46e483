import CZeroMQ

/// Readiness flags for polling.
public struct PollEvents: OptionSet, Sendable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))
    public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))
}

/// Waits until any of several sockets (or plain file descriptors) is ready.
public struct Poller {
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Adds a socket; returns its index in the result of `poll`.
    @discardableResult
    public mutating func add(_ socket: Socket, events: PollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: socket.handle, fd: -1, events: events.rawValue, revents: 0))
        return items.count - 1
    }

    /// Adds a file descriptor (a pipe used to wake the poller, say).
    @discardableResult
    public mutating func add(fileDescriptor: Int32, events: PollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
        return items.count - 1
    }

    /// Removes every item after the first `count`: the file descriptors of the last poll that
    /// may differ for the next.
    public mutating func keepFirst(_ count: Int) {
        items.removeSubrange(min(count, items.count)...)
    }

    /// Changes what an item is polled for.
    public mutating func setEvents(_ events: PollEvents, at index: Int) {
        items[index].events = events.rawValue
    }

    /// Waits up to `timeout` milliseconds (-1: forever) and returns what each item is ready for.
    public mutating func poll(timeout milliseconds: Int) throws(ZMQError) -> [PollEvents] {
        for index in items.indices { items[index].revents = 0 }
        let count = Int32(items.count)
        let rc = zmq_poll(&items, count, milliseconds)
        if rc == -1 {
            let error = ZMQError.last("zmq_poll")
            if error.code == EINTR { return items.map { _ in [] } }
            throw error
        }
        return items.map { PollEvents(rawValue: $0.revents) }
    }
}
