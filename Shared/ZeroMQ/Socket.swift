import CZeroMQ
import Foundation

/// A ZeroMQ socket. Not thread-safe: one owner uses it from one thread at a time, and it
/// closes when that owner lets go of it.
public final class Socket {
    /// The defaults set on every socket before anything else: a bounded linger so close never
    /// hangs, and a 1 MiB limit on inbound messages.
    public static let defaultLinger: Int32 = 1_000
    public static let defaultMaxMessageSize: Int64 = 1 << 20

    public let type: SocketType
    let handle: UnsafeMutableRawPointer

    public init(
        _ type: SocketType, context: Context = .shared,
        options: [SocketOption] = []
    ) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError.last("zmq_socket")
        }
        self.type = type
        self.handle = handle
        try set(.linger(milliseconds: Self.defaultLinger))
        try set(.maxMessageSize(Self.defaultMaxMessageSize))
        for option in options { try set(option) }
    }

    deinit {
        zmq_close(handle)
    }

    public func set(_ option: SocketOption) throws(ZMQError) {
        try option.apply(to: handle)
    }

    public func bind(_ endpoint: String) throws(ZMQError) {
        try check("bind \(endpoint)") { zmq_bind(handle, endpoint) }
    }

    public func connect(_ endpoint: String) throws(ZMQError) {
        try check("connect \(endpoint)") { zmq_connect(handle, endpoint) }
    }

    public func disconnect(_ endpoint: String) throws(ZMQError) {
        try check("disconnect \(endpoint)") { zmq_disconnect(handle, endpoint) }
    }

    /// The endpoint last bound, with the port the system chose for `tcp://127.0.0.1:*`.
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The port of the last bound TCP endpoint.
    public var boundPort: Int? {
        lastEndpoint.split(separator: ":").last.flatMap { Int($0) }
    }

    /// Whether a message can be read now or written now (`ZMQ_EVENTS`).
    public var events: PollEvents {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        zmq_getsockopt(handle, ZMQ_EVENTS, &value, &size)
        return PollEvents(rawValue: Int16(truncatingIfNeeded: value))
    }

    /// Sends one message of one or more frames. With `dontWait`, returns false instead of
    /// blocking when the message cannot be queued now; a multipart message is all or nothing.
    @discardableResult
    public func send(_ frames: [Data], dontWait: Bool = false) throws(ZMQError) -> Bool {
        precondition(!frames.isEmpty, "a ZeroMQ message has at least one frame")
        for (index, frame) in frames.enumerated() {
            var flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
            if index < frames.count - 1 { flags |= ZMQ_SNDMORE }
            do {
                try check("send") {
                    frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
                }
            } catch where error.wouldBlock && index == 0 {
                // Nothing was queued; the first frame of a multipart message decides for all.
                return false
            }
        }
        return true
    }

    /// Sends one single-frame message.
    @discardableResult
    public func send(_ frame: Data, dontWait: Bool = false) throws(ZMQError) -> Bool {
        try send([frame], dontWait: dontWait)
    }

    /// Receives one whole message, every frame copied out. With `dontWait`, returns nil when
    /// no message is waiting.
    public func receive(dontWait: Bool = false) throws(ZMQError) -> [Data]? {
        try receiveWithUserID(dontWait: dontWait)?.frames
    }

    /// Receives one whole message and the User-Id its connection was given by the ZAP handler
    /// (nil on a connection no handler has seen, such as plain text without ZAP).
    public func receiveWithUserID(dontWait: Bool = false) throws(ZMQError) -> (frames: [Data], userID: String?)? {
        var userID: String?
        var frames: [Data] = []
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        repeat {
            let flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
            do {
                try check("receive") { zmq_msg_recv(&message, handle, flags) }
            } catch where error.wouldBlock && frames.isEmpty {
                return nil
            }
            // A ROUTER makes the routing-id frame itself, without the connection's metadata:
            // the frames after it carry it.
            if userID == nil, let property = zmq_msg_gets(&message, "User-Id") {
                userID = String(cString: property)
            }
            let size = zmq_msg_size(&message)
            if size == 0 {
                frames.append(Data())
            } else {
                frames.append(Data(bytes: zmq_msg_data(&message), count: size))
            }
        } while zmq_msg_more(&message) == 1
        return (frames, userID.flatMap { $0.isEmpty ? nil : $0 })
    }
}
