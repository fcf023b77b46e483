import Foundation
import HummingbirdWSClient
import Logging
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
/// requests (resync). Disconnects when closed or deinitialised.
package final class StreamClient: Sendable {
    private let received = Locked<[StreamMessage]>([])
    private let failure = Locked<String?>(nil)
    private let closeFrame = Locked<(code: Int, reason: String)?>(nil)
    private let outgoing: AsyncStream<String>.Continuation
    private let task: Task<Void, Never>

    package init(url: String) {
        let (stream, outgoing) = AsyncStream.makeStream(of: String.self)
        self.outgoing = outgoing
        let received = self.received
        let failure = self.failure
        let closeFrame = self.closeFrame
        task = Task {
            do {
                let frame = try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: 1 << 20), logger: Logger(label: "test-display")
                ) { inbound, outbound, _ in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await text in stream { try await outbound.write(.text(text)) }
                        }
                        for try await message in inbound.messages(maxSize: 1 << 22) {
                            guard case .text(let text) = message,
                                let decoded = try? JSONDecoder().decode(StreamMessage.self, from: Data(text.utf8))
                            else { continue }
                            received.withLock { $0.append(decoded) }
                        }
                        group.cancelAll()
                    }
                }
                if let frame { closeFrame.withLock { $0 = (Int(UInt16(webSocketErrorCode: frame.closeCode)), frame.reason ?? "") } }
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
            failure.withLock { $0 = $0 ?? "closed" }
        }
    }

    deinit { close() }

    package func close() {
        outgoing.finish()
        task.cancel()
    }

    package var messages: [StreamMessage] { received.withLock { $0 } }
    /// Why the connection ended, once it has.
    package var ended: String? { failure.withLock { $0 } }
    /// The close code and reason the server sent, once it closed the stream.
    package var closedWith: (code: Int, reason: String)? { closeFrame.withLock { $0 } }

    package func send(_ text: String) { outgoing.yield(text) }

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
        while buffer.count - offset >= 2 {
            let fin = buffer[offset] & 0x80 != 0
            let opcode = buffer[offset] & 0x0F
            var length = Int(buffer[offset + 1] & 0x7F)
            var header = 2
            if length == 126 {
                guard buffer.count - offset >= 4 else { break }
                length = Int(buffer[offset + 2]) << 8 | Int(buffer[offset + 3])
                header = 4
            } else if length == 127 {
                guard buffer.count - offset >= 10 else { break }
                length = (0..<8).reduce(0) { $0 << 8 | Int(buffer[offset + 2 + $1]) }
                header = 10
            }
            guard buffer.count - offset >= header + length else { break }
            let payload = buffer[(offset + header)..<(offset + header + length)]
            offset += header + length
            guard opcode == 0 || opcode == 1 else { continue }
            partial.append(contentsOf: payload)
            if fin {
                if let decoded = try? JSONDecoder().decode(StreamMessage.self, from: Data(partial)) { messages.append(decoded) }
                partial = []
            }
        }
        buffer.removeSubrange(..<offset)
        return messages
    }
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
