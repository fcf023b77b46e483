import Foundation
import Testing
@testable import ZeroMQ

@Suite struct SocketTests {
    /// Binds to a system-chosen port on loopback and returns the socket with its endpoint.
    func bound(_ type: SocketType, options: [SocketOption] = []) throws -> (Socket, String) {
        let socket = try Socket(type, options: options)
        try socket.bind("tcp://127.0.0.1:*")
        return (socket, socket.lastEndpoint)
    }

    func text(_ frames: [Data]?) -> [String] {
        (frames ?? []).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func reqRepRoundTrip() throws {
        let (rep, endpoint) = try bound(.rep)
        let req = try Socket(.req)
        try req.connect(endpoint)

        try req.send([Data("hello".utf8), Data("world".utf8)])
        #expect(text(try rep.receive()) == ["hello", "world"])
        try rep.send(Data("pong".utf8))
        #expect(text(try req.receive()) == ["pong"])
    }

    @Test func dealerRouterCarriesRoutingIDAndFrames() throws {
        let (router, endpoint) = try bound(.router)
        let dealer = try Socket(.dealer, options: [.routingID(Data("field-app-1".utf8))])
        try dealer.connect(endpoint)

        try dealer.send([Data(), Data("{\"op\":\"ping\"}".utf8)])
        let received = try #require(try router.receive())
        #expect(text(received) == ["field-app-1", "", "{\"op\":\"ping\"}"])

        // Replying through the same envelope reaches that dealer alone.
        try router.send([received[0], Data(), Data("pong".utf8)])
        #expect(text(try dealer.receive()) == ["", "pong"])
    }

    @Test func emptyAndBinaryFramesSurvive() throws {
        let (pull, endpoint) = try bound(.pull)
        let push = try Socket(.push)
        try push.connect(endpoint)
        let binary = Data([0, 255, 1, 0, 128])
        try push.send([Data(), binary, Data()])
        #expect(try pull.receive() == [Data(), binary, Data()])
    }

    @Test func pubSubDeliversOnlySubscribedTopics() throws {
        let (pub, endpoint) = try bound(.pub)
        let sub = try Socket(.sub, options: [.subscribe(Data("acme/".utf8))])
        try sub.connect(endpoint)

        // Subscriptions travel to the publisher asynchronously: publish until one arrives.
        var got: [String] = []
        for _ in 0..<200 where got.isEmpty {
            try pub.send([Data("other/board".utf8), Data("no".utf8)])
            try pub.send([Data("acme/points".utf8), Data("yes".utf8)])
            Thread.sleep(forTimeInterval: 0.01)
            got = text(try sub.receive(dontWait: true))
        }
        #expect(got == ["acme/points", "yes"])
        // Nothing from the other topic is queued behind it.
        while let frames = try sub.receive(dontWait: true) {
            #expect(text(frames).first == "acme/points")
        }
    }

    @Test func xpubReceivesSubscriptionFrames() throws {
        let (xpub, endpoint) = try bound(.xpub, options: [.xpubVerbose(true)])
        let sub = try Socket(.sub)
        try sub.connect(endpoint)
        try sub.set(.subscribe(Data("default/points:today:reps".utf8)))

        let subscribe = try #require(try xpub.receive())
        #expect(subscribe.count == 1)
        #expect(subscribe[0].first == 1)
        #expect(String(decoding: subscribe[0].dropFirst(), as: UTF8.self) == "default/points:today:reps")

        try sub.set(.unsubscribe(Data("default/points:today:reps".utf8)))
        let unsubscribe = try #require(try xpub.receive())
        #expect(unsubscribe[0].first == 0)
    }

    @Test func oversizedMessageIsRefusedAndSocketKeepsWorking() throws {
        let (pull, endpoint) = try bound(.pull, options: [.maxMessageSize(1024)])
        let big = try Socket(.push)
        try big.connect(endpoint)
        try big.send(Data(repeating: 0x41, count: 4096))

        let small = try Socket(.push)
        try small.connect(endpoint)
        try small.send(Data("small".utf8))

        try pull.set(.receiveTimeout(milliseconds: 2_000))
        #expect(text(try pull.receive()) == ["small"])
        // The oversized message never arrives.
        try pull.set(.receiveTimeout(milliseconds: 300))
        #expect(try pull.receive() == nil)
    }

    @Test func defaultMaxMessageSizeIsOneMiB() throws {
        let (pull, endpoint) = try bound(.pull)
        let push = try Socket(.push)
        try push.connect(endpoint)
        try push.send(Data(repeating: 1, count: (1 << 20) + 1))
        let fits = try Socket(.push)
        try fits.connect(endpoint)
        try fits.send(Data(repeating: 2, count: 1 << 20))
        try pull.set(.receiveTimeout(milliseconds: 2_000))
        let received = try #require(try pull.receive())
        #expect(received[0].count == 1 << 20)
        #expect(received[0].first == 2)
    }

    @Test func pollerReportsReadableSocket() throws {
        let (pull, endpoint) = try bound(.pull)
        let push = try Socket(.push)
        try push.connect(endpoint)
        var poller = Poller()
        poller.add(pull)
        #expect(try poller.poll(timeout: 50) == [[]])
        try push.send(Data("x".utf8))
        #expect(try poller.poll(timeout: 2_000) == [.readable])
    }

    @Test func errorsCarryLibzmqText() throws {
        let socket = try Socket(.rep)
        let error = #expect(throws: ZMQError.self) { try socket.bind("nonsense://x") }
        #expect(error?.description == "bind nonsense://x: Protocol not supported")
    }

    @Test func curveHandshakeNeedsTheRightServerKey() throws {
        let server = try CurveKeyPair.generate()
        let clientKeys = try CurveKeyPair.generate()
        #expect(server.publicKey.count == 40 && server.secretKey.count == 40)
        #expect(server != clientKeys)

        let (rep, endpoint) = try bound(.rep, options: [.curveServer(true), .curveSecretKey(server.secretKey)])
        try rep.set(.receiveTimeout(milliseconds: 3_000))

        func client(serverKey: String) throws -> Socket {
            let req = try Socket(.req, options: [
                .curveServerKey(serverKey), .curvePublicKey(clientKeys.publicKey),
                .curveSecretKey(clientKeys.secretKey),
            ])
            try req.connect(endpoint)
            return req
        }

        let wrong = try client(serverKey: try CurveKeyPair.generate().publicKey)
        try wrong.send(Data("from an impostor".utf8))
        let right = try client(serverKey: server.publicKey)
        try right.send(Data("secret".utf8))

        // Only the client that knows the server's key gets through.
        #expect(text(try rep.receive()) == ["secret"])
        try rep.send(Data("ok".utf8))
        try right.set(.receiveTimeout(milliseconds: 3_000))
        #expect(text(try right.receive()) == ["ok"])
        try rep.set(.receiveTimeout(milliseconds: 500))
        #expect(try rep.receive() == nil)
    }
}
