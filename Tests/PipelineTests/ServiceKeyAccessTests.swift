import Foundation
import TallyTesting
import Testing
import ZeroMQ

/// The stack's own sockets with the service key, against the real processes: a peer without
/// it on the worker socket is given no job, and one on the changes socket reaches no display.
@Suite(.serialized) struct ServiceKeyAccessTests {
    let keys = try! StackKeys.generate()
    /// A minute ago, so that every event of a test falls in the same periods.
    let at = rfc3339(Date().addingTimeInterval(-60))

    /// The ways an impostor can connect to one of the stack's CURVE servers: plain text, and
    /// CURVE with the server's (public) key but a key pair of its own.
    func impostors(_ type: SocketType, to endpoint: String) throws -> [(name: String, socket: Socket)] {
        let plain = try Socket(type, options: [.linger(milliseconds: 0), .receiveTimeout(milliseconds: 0)])
        let wrongKey = try Socket(type, options: [.linger(milliseconds: 0), .receiveTimeout(milliseconds: 0)]
            + (try CurveKeyPair.generate()).clientOptions(serverKey: keys.service.publicKey))
        for socket in [plain, wrongKey] { try socket.connect(endpoint) }
        return [("plain text", plain), ("a wrong key", wrongKey)]
    }

    @Test func anImpostorOnTheWorkerSocketGetsNoJob() throws {
        let stack = try TallyStack(keys: keys)
        try stack.startIngestion()
        try stack.startWorker()
        let impostors = try impostors(.dealer, to: "tcp://127.0.0.1:\(stack.workerPort)")
        for (_, socket) in impostors { try socket.send(Data("READY".utf8)) }

        let app = try FieldApp(stack.endpoint, options: stack.services.fieldAppOptions)
        var accepted: [String] = []
        for i in 0..<40 {
            // Every few events the impostors say READY again, as a worker would between jobs.
            if i % 10 == 0 { for (_, socket) in impostors { _ = try? socket.send(Data("READY".utf8), dontWait: true) } }
            let reply = try #require(try app.request(eventJSON(id: "e\(i)", rep: "ana", kind: "call", at: at)), "\(stack.logs)")
            accepted += (reply.results ?? []).filter { $0.status == "accepted" }.compactMap(\.id)
        }
        #expect(accepted.count == 40)
        for (name, socket) in impostors {
            #expect(try socket.receive(dontWait: true) == nil, "\(name) was given a job")
        }
        // Every acknowledged event is on the board: 40 calls, 1 point each.
        let points = try stack.redis.connection().send("ZSCORE", "{default}:board:points:all:reps:all", "ana").string
        #expect(points.flatMap(Double.init) == 40)
    }

    @Test func aPublisherWithoutTheServiceKeyReachesNoDisplay() throws {
        let stack = try TallyStack(keys: keys)
        try stack.startWithNotification()
        let display = try ZMQDisplay("tcp://127.0.0.1:\(stack.displaysPort)", topics: ["default/_events"])
        let impostors = try impostors(.pub, to: "tcp://127.0.0.1:\(stack.notifyPort)")
        Thread.sleep(forTimeInterval: 0.5)  // a PUB drops what it sends before it is connected

        func fakeDeal(_ rep: String) -> Data {
            Data(#"{"type":"changes","org":"default","boards":[],"deals":[{"rep":"\#(rep)","name":"Fake","value":1000000,"at":"\#(at)"}]}"#.utf8)
        }
        for (name, socket) in impostors {
            for _ in 0..<5 { try socket.send([Data("default".utf8), fakeDeal(name)]) }
        }
        // A real deal, through the front door, reaches the display; none of the fakes did.
        let app = try FieldApp(stack.endpoint, options: stack.services.fieldAppOptions)
        _ = try #require(try app.request(eventJSON(id: "d1", rep: "ana", name: "Ana", kind: "deal_won", value: 500, at: at)))
        let deal = try display.wait(for: "the real deal", topic: "default/_events") { $0.type == "deal" }
        #expect(deal.rep == "ana" && deal.value == 500)
        Thread.sleep(forTimeInterval: 0.5)
        let deals = display.messages(topic: "default/_events").filter { $0.type == "deal" }
        #expect(deals.compactMap(\.rep) == ["ana"], "\(deals)")
    }
}
