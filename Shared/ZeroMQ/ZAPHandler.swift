import CZeroMQ
import Foundation
import Synchronization

/// The process's ZAP handler (ZeroMQ RFC 27): libzmq asks it, over `inproc://zeromq.zap.01`,
/// whether each peer that completes a CURVE handshake with a server socket of its context may
/// connect. It answers on a thread of its own with what `decide` says; a peer it refuses gets
/// no connection at all, and the User-Id it gives an admitted peer comes with every message
/// that peer sends (`Socket.receiveWithUserID`).
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
    }

    public enum Decision: Sendable, Equatable {
        /// Admitted, its messages carrying `userID`.
        case allow(userID: String)
        case deny(reason: String)
    }

    public static let endpoint = "inproc://zeromq.zap.01"

    private let stopped = StopFlag()
    private let finished = DispatchSemaphore(value: 0)

    /// Binds the handler in `context` and starts answering.
    public init(context: Context = .shared, decide: @escaping @Sendable (Request) -> Decision) throws(ZMQError) {
        // Bound here, on the caller's thread, so a CURVE socket bound after `init` returns is
        // already covered; then handed to the thread, which alone uses it from then on.
        let socket = try Socket(.rep, context: context, options: [.linger(milliseconds: 0), .receiveTimeout(milliseconds: 100)])
        try socket.bind(Self.endpoint)
        let box = SocketBox(socket)
        let thread = Thread { [stopped, finished] in
            Thread.current.name = "zap"
            Self.serve(box.socket, decide: decide, until: stopped)
            box.socket = nil
            finished.signal()
        }
        thread.start()
    }

    /// Stops answering and unbinds; a handshake after this is refused by libzmq (no handler).
    public func stop() {
        guard !stopped.value.exchange(true, ordering: .relaxed) else { return }
        finished.wait()
    }

    deinit { stop() }

    private static func serve(_ socket: Socket?, decide: (Request) -> Decision, until stopped: StopFlag) {
        guard let socket else { return }
        while !stopped.value.load(ordering: .relaxed) {
            guard let frames = try? socket.receive() else { continue }  // the receive timeout: look at `stopped`
            // version, request id, domain, address, routing id, mechanism, credentials...
            guard frames.count >= 6 else {
                _ = try? socket.send([Data("1.0".utf8), Data(), Data("500".utf8), Data("malformed request".utf8), Data(), Data()])
                continue
            }
            let text = { (index: Int) in String(decoding: frames[index], as: UTF8.self) }
            let mechanism = text(5)
            let request = Request(
                domain: text(2), address: text(3), mechanism: mechanism,
                publicKey: mechanism == "CURVE" && frames.count >= 7 ? CurveKeyPair.z85(frames[6]) : nil)
            let (status, statusText, userID) =
                switch decide(request) {
                case .allow(let userID): ("200", "OK", userID)
                case .deny(let reason): ("400", reason, "")
                }
            _ = try? socket.send([
                Data("1.0".utf8), frames[1], Data(status.utf8), Data(statusText.utf8), Data(userID.utf8), Data(),
            ])
        }
    }
}

private final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// The handler's socket, handed from the thread that binds it to the one that serves it.
private final class SocketBox: @unchecked Sendable {
    var socket: Socket?
    init(_ socket: Socket) { self.socket = socket }
}
