import CZeroMQ
import Foundation
import Synchronization

/// The process's ZAP handler (ZeroMQ RFC 27): libzmq asks it, over `inproc://zeromq.zap.01`,
/// whether each peer that completes a CURVE handshake with a server socket of its context may
/// connect. It answers on a thread of its own with what `decide` says; a peer it refuses gets
/// no connection at all, and the User-Id it gives an admitted peer comes with every message
/// that peer sends (`Socket.receiveWithUserID`).
///
/// `decide` must not wait: when it cannot answer at once (a key to look up) it returns `nil`
/// and calls the request's `answer` later, from any thread; meanwhile the handshake waits and
/// other peers are answered. A request never answered is forgotten after `forgetAfter`: by
/// then libzmq's handshake timeout (30 s) has closed its connection, and the peer's libzmq
/// connects again by itself. (libzmq retries neither a 400 nor a 300: a peer refused stays
/// refused until its socket is made again, so "not sure yet" must be a wait, never a refusal.)
///
/// Bind it before any CURVE server socket of the context binds: without a handler, libzmq
/// admits every CURVE client.
public final class ZAPHandler: Sendable {
    /// One peer asking to connect.
    public struct Request: Sendable {
        /// The ZAP domain of the socket it connects to (`SocketOption.zapDomain`).
        public let domain: String
        /// The peer's IP address.
        public let address: String
        /// `CURVE`, `PLAIN` or `NULL`.
        public let mechanism: String
        /// The peer's CURVE public key in Z85; nil for other mechanisms.
        public let publicKey: String?
        /// Answers the request later, when `decide` returned nil; once.
        public let answer: @Sendable (Decision) -> Void
    }

    public enum Decision: Sendable, Equatable {
        /// Admitted, its messages carrying `userID`.
        case allow(userID: String)
        /// Refused (ZAP 400): the peer is sent an ERROR, and its libzmq does not retry.
        case deny(reason: String)
    }

    public static let endpoint = "inproc://zeromq.zap.01"
    /// How long a deferred request is kept for its answer.
    public static let forgetAfter: Duration = .seconds(30)

    private let stopped = StopFlag()
    private let finished = DispatchSemaphore(value: 0)

    /// Binds the handler in `context` and starts answering.
    public init(context: Context = .shared, decide: @escaping @Sendable (Request) -> Decision?) throws(ZMQError) {
        // Bound here, on the caller's thread, so a CURVE socket bound after `init` returns is
        // already covered; then handed to the thread, which alone uses it from then on. A
        // ROUTER, not a REP, so that answers may go out in any order.
        let socket = try Socket(.router, context: context, options: [.linger(milliseconds: 0), .receiveTimeout(milliseconds: 20)])
        try socket.bind(Self.endpoint)
        let box = SocketBox(socket)
        let thread = Thread { [stopped, finished] in
            Thread.nameCurrent("zap")
            Self.serve(box.socket, decide: decide, until: stopped)
            box.socket = nil
            finished.signal()
        }
        thread.start()
    }

    /// Stops answering and unbinds. Stop it only after the CURVE sockets it checks are closed:
    /// with no handler bound, libzmq admits every CURVE client.
    public func stop() {
        guard !stopped.value.exchange(true, ordering: .relaxed) else { return }
        finished.wait()
    }

    deinit { stop() }

    /// A request waiting for its answer: where the reply goes, and until when it may wait.
    private struct Waiting {
        let envelope: [Data]
        let requestID: Data
        let deadline: ContinuousClock.Instant
    }

    private static func serve(_ socket: Socket?, decide: (Request) -> Decision?, until stopped: StopFlag) {
        guard let socket else { return }
        let answers = Answers()
        var waiting: [Int: Waiting] = [:]
        var nextID = 0
        func reply(_ envelope: [Data], _ requestID: Data, _ decision: Decision) {
            let (status, statusText, userID) =
                switch decision {
                case .allow(let userID): ("200", "OK", userID)
                case .deny(let reason): ("400", reason, "")
                }
            _ = try? socket.send(envelope + [
                Data("1.0".utf8), requestID, Data(status.utf8), Data(statusText.utf8), Data(userID.utf8), Data(),
            ])
        }
        while !stopped.value.load(ordering: .relaxed) {
            for (id, decision) in answers.take() {
                guard let request = waiting.removeValue(forKey: id) else { continue }  // answered already (late)
                reply(request.envelope, request.requestID, decision)
            }
            let now = ContinuousClock.now
            for (id, request) in waiting where request.deadline <= now {
                waiting[id] = nil  // its connection has timed out; the peer tries again
            }
            guard let frames = try? socket.receive() else { continue }  // the receive timeout: look at `stopped`
            // routing id, "", version, request id, domain, address, identity, mechanism, credentials...
            guard let delimiter = frames.firstIndex(where: \.isEmpty), frames.count >= delimiter + 7 else { continue }
            let envelope = Array(frames[...delimiter])
            let body = Array(frames[(delimiter + 1)...])
            let text = { (index: Int) in String(decoding: body[index], as: UTF8.self) }
            let id = nextID
            nextID += 1
            let mechanism = text(5)
            let request = Request(
                domain: text(2), address: text(3), mechanism: mechanism,
                publicKey: mechanism == "CURVE" && body.count >= 7 ? CurveKeyPair.z85(body[6]) : nil,
                answer: { [answers] decision in answers.add(id, decision) })
            if let decision = decide(request) {
                reply(envelope, body[1], decision)
            } else {
                waiting[id] = Waiting(envelope: envelope, requestID: body[1], deadline: ContinuousClock.now + forgetAfter)
            }
        }
    }
}

/// Answers given from other threads, for the handler's thread to send.
private final class Answers: Sendable {
    private let list = Mutex<[(Int, ZAPHandler.Decision)]>([])
    func add(_ id: Int, _ decision: ZAPHandler.Decision) { list.withLock { $0.append((id, decision)) } }
    func take() -> [(Int, ZAPHandler.Decision)] { list.withLock { list in defer { list = [] }; return list } }
}

private final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// The handler's socket, handed from the thread that binds it to the one that serves it.
private final class SocketBox: @unchecked Sendable {
    var socket: Socket?
    init(_ socket: Socket) { self.socket = socket }
}
