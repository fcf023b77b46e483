import Foundation
import Synchronization
import ZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// A message a display receives, decoded the way a display would (independently of the
/// service's own types).
package struct StreamMessage: Decodable, Sendable, Equatable {
    package struct Entry: Decodable, Sendable, Equatable {
        package let rank: Int
        package let member: String
        package let name: String
        package let score: Double
        package let team: String?
        /// Where the member has a quota: its target and score ÷ target.
        package let target: Double?
        package let attainment: Double?
    }
    package struct Move: Decodable, Sendable, Equatable {
        package let member: String
        package let from: Int?
        package let to: Int?
        package init(member: String, from: Int?, to: Int?) {
            self.member = member
            self.from = from
            self.to = to
        }
    }
    package struct Highlight: Decodable, Sendable, Equatable {
        package let type: String
        package let member: String
        package let passed: String?
        package let rank: Int?
        package init(type: String, member: String, passed: String?, rank: Int?) {
            self.type = type
            self.member = member
            self.passed = passed
            self.rank = rank
        }
    }

    package let type: String
    package let org: String?
    package let board: String?
    package let period: String?
    package let seq: Int?
    package let entries: [Entry]?
    package let moves: [Move]?
    package let highlights: [Highlight]?
    // deal
    package let rep: String?
    package let name: String?
    package let value: Double?
    // activity, correction
    package let id: String?
    package let kind: String?
    package let status: String?
    /// A correction's amended event as now recorded.
    package let event: Amended?
    package struct Amended: Decodable, Sendable, Equatable {
        package let rep: String
        package let name: String
        package let kind: String
        package let value: Double
        package let feed: Bool
    }
    // contest
    package let contest: String?
    package let state: String?
    package let winners: [Entry]?
    package let error: String?
    // milestone
    package let member: String?
    package let attainment: Double?
    package let milestone: Double?

    /// The entries as "member=score" in order, for comparing with a board read from Redis.
    package var lines: [String] { (entries ?? []).map { "\($0.member)=\(Int($0.score))" } }
}

/// A WebSocket display on `/v1/stream`: everything it receives, in order; it can send
/// requests (resync) and answers the server's pings. Disconnects when closed or deinitialised.
///
/// Written on a plain socket with a reader thread of its own rather than a WebSocket library:
/// a server may send its first frame (a refusal's close, a snapshot) in the same TCP segment
/// as the `101` that upgrades the connection, and the library client dropped such a frame
/// now and then under load, leaving a test waiting 15 s for a close that had been sent.
/// Here the bytes after the handshake stay in the buffer the frames are read from.
package final class StreamClient: Sendable {
    private let received = Locked<[StreamMessage]>([])
    private let failure = Locked<String?>(nil)
    private let closeFrame = Locked<(code: Int, reason: String)?>(nil)
    private let connection = ClientSocket()

    package init(url: String) {
        let (received, failure, closeFrame, connection) = (received, failure, closeFrame, connection)
        let thread = Thread {
            do {
                try connection.open(url)
                try connection.readFrames { opcode, payload in
                    switch opcode {
                    case .text:
                        if let decoded = try? JSONDecoder().decode(StreamMessage.self, from: Data(payload)) {
                            received.withLock { $0.append(decoded) }
                        }
                    case .close:
                        let code = payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 1005
                        let reason = payload.count > 2 ? String(decoding: payload[2...], as: UTF8.self) : ""
                        closeFrame.withLock { $0 = $0 ?? (code, reason) }
                    }
                }
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
            connection.finish()
            failure.withLock { $0 = $0 ?? "closed" }
        }
        thread.start()
    }

    deinit { close() }

    /// Sends a close frame (once connected) and ends the connection.
    package func close() { connection.close() }

    package var messages: [StreamMessage] { received.withLock { $0 } }
    /// Why the connection ended, once it has.
    package var ended: String? { failure.withLock { $0 } }
    /// The close code and reason the server sent, once it closed the stream.
    package var closedWith: (code: Int, reason: String)? { closeFrame.withLock { $0 } }

    /// Sends a text message (held until the handshake is done).
    package func send(_ text: String) { connection.sendText(text) }

    /// Waits until a received message satisfies `condition`, and returns it.
    package func wait(
        for what: String, seconds: Double = 15, _ condition: (StreamMessage) -> Bool
    ) throws -> StreamMessage {
        var found: StreamMessage?
        try TallyTesting.wait(what, seconds: seconds) {
            found = messages.first(where: condition)
            return found != nil
        }
        return found!
    }
}

/// The socket under a `StreamClient`: the handshake, reading frames on the caller's thread
/// (the client's reader), and writes from any thread, one frame at a time.
private final class ClientSocket: Sendable {
    enum Opcode { case text, close }

    private struct State {
        var fd: Int32?
        var open = false
        var closed = false
        /// Text sent before the handshake finished.
        var pending: [String] = []
    }
    private let state = Mutex(State())

    /// Connects to a `ws://127.0.0.1:<port>/<path>` address and upgrades the connection.
    func open(_ url: String) throws {
        guard url.hasPrefix("ws://127.0.0.1:"), let slash = url.dropFirst(15).firstIndex(of: "/"),
            let port = Int(url.dropFirst(15)[..<slash])
        else { throw TestSetupError("not a loopback ws:// address: \(url)") }
        guard let fd = connectLoopback(port: port) else { throw TestSetupError("connect to port \(port) failed") }
        let closedMeanwhile = state.withLock { state -> Bool in
            state.fd = fd
            return state.closed
        }
        if closedMeanwhile { throw TestSetupError("closed before it connected") }
        let path = String(url[slash...])
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try write(fd, Array(request.utf8))
        while true {
            if let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<end.upperBound)  // what follows is the first frames
                guard head.hasPrefix("HTTP/1.1 101") else { throw TestSetupError("no upgrade: \(head.prefix(200))") }
                break
            }
            guard try fill(fd) else { throw TestSetupError("closed during the handshake") }
        }
        let pending = state.withLock { state in
            state.open = true
            defer { state.pending = [] }
            return state.pending
        }
        for text in pending { sendText(text) }
    }

    /// Bytes read and not yet parsed; only the reader thread touches it.
    nonisolated(unsafe) private var buffer: [UInt8] = []

    /// Reads frames until the server ends the connection: text messages (reassembled) and a
    /// close go to `handle`; pings are answered, and a close is answered with a close.
    func readFrames(_ handle: (Opcode, [UInt8]) -> Void) throws {
        guard let fd = state.withLock({ $0.fd }) else { return }
        var message: [UInt8] = []
        while true {
            while let (fin, opcode, payload) = nextFrame() {
                switch opcode {
                case 0, 1:
                    message += payload
                    guard message.count <= 1 << 22 else { throw TestSetupError("a message over 4 MiB") }
                    if fin {
                        handle(.text, message)
                        message = []
                    }
                case 8:
                    handle(.close, payload)
                    try? frame(opcode: 8, Array(payload.prefix(2)))
                case 9:
                    try? frame(opcode: 10, payload)
                default:
                    break  // binary, pong
                }
            }
            guard try fill(fd) else { return }
        }
    }

    /// The next complete frame in the buffer, taken out of it.
    private func nextFrame() -> (fin: Bool, opcode: UInt8, payload: [UInt8])? {
        guard let frame = serverFrame(in: buffer, at: 0) else { return nil }
        defer { buffer.removeSubrange(..<frame.end) }
        return (frame.fin, frame.opcode, Array(buffer[frame.payload]))
    }

    /// Reads what has arrived into the buffer; false at the end of the stream.
    private func fill(_ fd: Int32) throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &chunk, chunk.count, 0)
        if count < 0 && errno == EINTR { return true }
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[..<count])
        return true
    }

    func sendText(_ text: String) {
        let ready = state.withLock { state -> Bool in
            if !state.open && !state.closed { state.pending.append(text) }
            return state.open
        }
        if ready { try? frame(opcode: 1, Array(text.utf8)) }
    }

    /// Writes one masked frame (a client's frames are masked, RFC 6455 §5.3).
    private func frame(opcode: UInt8, _ payload: [UInt8]) throws {
        var bytes: [UInt8] = [0x80 | opcode]
        switch payload.count {
        case ..<126: bytes.append(0x80 | UInt8(payload.count))
        case ..<65536: bytes += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default: bytes += [0x80 | 127] + (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xFF) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        bytes += mask
        bytes += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        // One writer at a time, so frames from the reader (pongs) and from `send` never interleave.
        try state.withLock { state in
            guard let fd = state.fd, !state.closed else { return }
            try write(fd, bytes)
        }
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw TestSetupError("send failed: errno \(errno)") }
            sent += count
        }
    }

    /// Sends a close frame if the stream is open, then shuts the socket, which wakes the reader.
    func close() {
        if state.withLock({ $0.open && !$0.closed }) { try? frame(opcode: 8, [0x03, 0xE8]) }
        state.withLock { state in
            state.closed = true
            if let fd = state.fd { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// The reader is done: shut and release the socket.
    func finish() {
        state.withLock { state in
            state.closed = true
            if let fd = state.fd.take() {
                shutdown(fd, Int32(SHUT_RDWR))
                Glibc.close(fd)
            }
        }
    }
}

/// A ZeroMQ display: a SUB socket on tally-notification's XPUB, messages as (topic, message).
package final class ZMQDisplay: Sendable {
    private let socket: AsyncSocket
    private let received = Locked<[(topic: String, message: StreamMessage)]>([])

    package init(_ endpoint: String, topics: [String]) throws {
        let sub = try Socket(.sub, options: topics.map { .subscribe(Data($0.utf8)) })
        try sub.connect(endpoint)
        socket = AsyncSocket(sub)
        Task { [socket] in await socket.run() }  // until close()
        Task { [socket, received] in
            for await frames in socket.messages {
                guard frames.count == 2, let message = try? JSONDecoder().decode(StreamMessage.self, from: frames[1]) else { continue }
                received.withLock { $0.append((String(decoding: frames[0], as: UTF8.self), message)) }
            }
        }
    }

    package func close() async { await socket.close() }

    package func messages(topic: String) -> [StreamMessage] {
        received.withLock { $0.filter { $0.topic == topic }.map(\.message) }
    }

    package func wait(
        for what: String, topic: String, seconds: Double = 15, _ condition: (StreamMessage) -> Bool
    ) throws -> StreamMessage {
        var found: StreamMessage?
        try TallyTesting.wait(what, seconds: seconds) {
            found = messages(topic: topic).first(where: condition)
            return found != nil
        }
        return found!
    }
}

/// A WebSocket display written against the socket API, so that a test can make it stop
/// reading: the handshake, then frames only when asked.
package final class RawStreamClient {
    private let fd: Int32
    private var buffer: [UInt8] = []
    /// The fragments of a message whose last frame has not arrived yet.
    private var partial: [UInt8] = []
    private var received: [StreamMessage] = []

    package init(port: Int, path: String) throws {
        guard let connected = connectLoopback(port: port) else { throw TestSetupError("connect to port \(port) failed") }
        fd = connected
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        // Read up to the end of the response head.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<end.upperBound)
                guard head.hasPrefix("HTTP/1.1 101") else { throw TestSetupError("no upgrade: \(head)") }
                return
            }
            _ = fill(timeoutMs: 100)
        }
        throw TestSetupError("no handshake reply within 10 s")
    }

    deinit { close(fd) }

    /// Reads until a message satisfies `condition` (or `seconds` pass) and returns every
    /// text message received so far, in order.
    package func read(seconds: Double, until condition: (StreamMessage) -> Bool) -> [StreamMessage] {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard fill(timeoutMs: 50) else { continue }
            let new = frames()
            received += new
            if new.contains(where: condition) { break }
        }
        return received
    }

    /// Waits until the server closes the connection (a read returns end of file), discarding
    /// what arrives meanwhile; false if it is still open after `seconds`.
    package func waitUntilClosed(seconds: Double) -> Bool {
        connectionClosed(fd, seconds: seconds)
    }

    private func fill(timeoutMs: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMs) > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &chunk, chunk.count, 0)
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[..<count])
        return true
    }

    /// Parses the complete frames in the buffer (server frames are never masked).
    private func frames() -> [StreamMessage] {
        var messages: [StreamMessage] = []
        var offset = 0
        while let frame = serverFrame(in: buffer, at: offset) {
            offset = frame.end
            guard frame.opcode == 0 || frame.opcode == 1 else { continue }
            partial.append(contentsOf: buffer[frame.payload])
            if frame.fin {
                if let decoded = try? JSONDecoder().decode(StreamMessage.self, from: Data(partial)) { messages.append(decoded) }
                partial = []
            }
        }
        buffer.removeSubrange(..<offset)
        return messages
    }
}

/// The complete WebSocket frame that starts at `offset` in `buffer`, if it has all arrived:
/// its FIN bit, opcode, where its payload lies and where the next frame starts. Server frames
/// are never masked (RFC 6455 §5.1).
private func serverFrame(in buffer: [UInt8], at offset: Int) -> (fin: Bool, opcode: UInt8, payload: Range<Int>, end: Int)? {
    let available = buffer.count - offset
    guard available >= 2 else { return nil }
    var length = Int(buffer[offset + 1] & 0x7F)
    var header = 2
    if length == 126 {
        guard available >= 4 else { return nil }
        length = Int(buffer[offset + 2]) << 8 | Int(buffer[offset + 3])
        header = 4
    } else if length == 127 {
        guard available >= 10 else { return nil }
        length = (0..<8).reduce(0) { $0 << 8 | Int(buffer[offset + 2 + $1]) }
        header = 10
    }
    guard available >= header + length else { return nil }
    let start = offset + header
    return (buffer[offset] & 0x80 != 0, buffer[offset] & 0x0F, start..<(start + length), start + length)
}

/// Reads from `fd` until the peer closes it (end of file or reset); false if it is still
/// open after `seconds`.
package func connectionClosed(_ fd: Int32, seconds: Double) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    var chunk = [UInt8](repeating: 0, count: 65536)
    while Date() < deadline {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 50) > 0 else { continue }
        if recv(fd, &chunk, chunk.count, 0) <= 0 { return true }
    }
    return false
}

/// A plain HTTP/1.1 GET over a socket: the status code and the body.
package func httpGet(port: Int, _ path: String) throws -> (status: Int, body: String) {
    try httpRequest(port: port, "GET", path)
}

/// One HTTP/1.1 request on a fresh connection: `token` as `Authorization: Bearer`, `body` as JSON.
package func httpRequest(port: Int, _ method: String, _ path: String, token: String? = nil, body: String? = nil) throws -> (status: Int, body: String) {
    guard let fd = connectLoopback(port: port) else { throw TestSetupError("connect to port \(port) failed") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    if let token { request += "Authorization: Bearer \(token)\r\n" }
    if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { request += "\r\n" }
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = recv(fd, &chunk, chunk.count, 0)
        guard count > 0 else { break }
        response.append(contentsOf: chunk[..<count])
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let headEnd = text.range(of: "\r\n\r\n"), let status = Int(text.split(separator: " ").dropFirst().first ?? "") else {
        throw TestSetupError("no HTTP response from port \(port)\(path)")
    }
    var body = String(text[headEnd.upperBound...])
    if text[..<headEnd.lowerBound].lowercased().contains("transfer-encoding: chunked") { body = dechunk(body) }
    return (status, body)
}

/// The body of a chunked response.
private func dechunk(_ text: String) -> String {
    var rest = Substring(text)
    var body = ""
    while let line = rest.range(of: "\r\n"), let size = Int(rest[..<line.lowerBound], radix: 16), size > 0 {
        let start = line.upperBound
        let end = rest.utf8.index(start, offsetBy: size)
        body += rest[start..<end]
        rest = rest[end...].dropFirst(2)
    }
    return body
}

/// A value shared between tasks, behind a lock (a `Mutex` that closures can capture).
package final class Locked<Value>: Sendable {
    private let mutex: Mutex<Value>
    package init(_ value: sending Value) { mutex = Mutex(value) }
    package func withLock<Result>(_ body: (inout sending Value) throws -> sending Result) rethrows -> sending Result {
        try mutex.withLock(body)
    }
}
