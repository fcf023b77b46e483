import Foundation
import Synchronization
import Testing
import ZeroMQ

/// The ZAP handler against real CURVE sockets: only the peers it admits get a connection,
/// each message carries the User-Id it gave, and it sees the domain and key of each handshake.
@Suite struct ZAPHandlerTests {
    /// A context of the test's own: a context has one ZAP handler, and other tests use the shared one.
    let context = try! Context()
    let server = try! CurveKeyPair.generate()
    let admitted = try! CurveKeyPair.generate()
    let stranger = try! CurveKeyPair.generate()

    func router(domain: String) throws -> (Socket, String) {
        let router = try Socket(.router, context: context, options: server.serverOptions(domain: domain) + [.receiveTimeout(milliseconds: 3_000)])
        try router.bind("tcp://127.0.0.1:*")
        return (router, router.lastEndpoint)
    }

    func dealer(_ keys: CurveKeyPair?, to endpoint: String) throws -> Socket {
        let dealer = try Socket(.dealer, context: context, options: (keys?.clientOptions(serverKey: server.publicKey) ?? []) + [.linger(milliseconds: 0)])
        try dealer.connect(endpoint)
        return dealer
    }

    @Test func onlyAdmittedKeysGetThroughEachWithItsUserID() throws {
        let seen = Mutex<[ZAPHandler.Request]>([])
        let handler = try ZAPHandler(context: context) { [admitted] request in
            seen.withLock { $0.append(request) }
            return request.publicKey == admitted.publicKey ? .allow(userID: "acme phone") : .deny(reason: "not registered")
        }
        defer { handler.stop() }
        let (router, endpoint) = try router(domain: "field")

        let plain = try dealer(nil, to: endpoint)
        try plain.send(Data("plain text".utf8))
        let unknown = try dealer(stranger, to: endpoint)
        try unknown.send(Data("unregistered".utf8))
        let known = try dealer(admitted, to: endpoint)
        try known.send(Data("registered".utf8))

        let message = try #require(try router.receiveWithUserID())
        #expect(message.frames.last.map { String(decoding: $0, as: UTF8.self) } == "registered")
        #expect(message.userID == "acme phone")
        try router.set(.receiveTimeout(milliseconds: 500))
        #expect(try router.receive() == nil, "neither the plain-text client nor the unregistered key got through")

        let asked = seen.withLock { $0 }
        #expect(asked.contains { $0.publicKey == stranger.publicKey && $0.domain == "field" && $0.mechanism == "CURVE" })
        #expect(asked.contains { $0.publicKey == admitted.publicKey && $0.address == "127.0.0.1" })
    }

    /// A handler that cannot decide at once (a key to look up) answers later, from another
    /// thread; the handshake waits for it, and another peer is answered meanwhile.
    @Test func aLaterAnswerAdmitsThePeerThatWaitedAndOthersAreNotHeldUp() throws {
        let handler = try ZAPHandler(context: context) { [admitted] request in
            guard request.publicKey == admitted.publicKey else { return .allow(userID: "at once") }
            let answer = request.answer
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: 1)
                answer(.allow(userID: "later"))
            }
            return nil
        }
        defer { handler.stop() }
        let (router, endpoint) = try router(domain: "field")
        let waiting = try dealer(admitted, to: endpoint)
        try waiting.send(Data("waited".utf8))
        let other = try dealer(stranger, to: endpoint)
        try other.send(Data("answered at once".utf8))

        let first = try #require(try router.receiveWithUserID())
        #expect(first.userID == "at once", "the waiting handshake held up the other")
        let second = try #require(try router.receiveWithUserID(), "the peer that waited never got in")
        #expect(second.userID == "later")
        #expect(second.frames.last.map { String(decoding: $0, as: UTF8.self) } == "waited")
    }

    @Test func theKeyIsDerivedFromTheSecretKey() throws {
        #expect(CurveKeyPair(secretKey: server.secretKey) == server)
        #expect(CurveKeyPair(secretKey: "too short") == nil)
    }
}
