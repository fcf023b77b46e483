import Foundation
import Synchronization
import TallyTesting
import Testing
@testable import ZeroMQ

@Suite struct AsyncSocketTests {
    @Test func routerServesManyDealersFromAsyncCode() async throws {
        let router = try Socket(.router)
        try router.bind("tcp://127.0.0.1:*")
        let server = AsyncSocket(router)
        let endpoint = server.lastEndpoint
        let serverIO = Task { await server.run() }

        // An echo server in async code: every request comes back upper-cased.
        let serving = Task {
            for await frames in server.messages {
                let body = String(decoding: frames[2], as: UTF8.self).uppercased()
                server.send([frames[0], Data(), Data(body.utf8)])
            }
        }

        var clients: [AsyncSocket] = []
        for index in 0..<5 {
            let dealer = try Socket(.dealer)
            try dealer.connect(endpoint)
            let client = AsyncSocket(dealer)
            Task { await client.run() }
            clients.append(client)
            for request in 0..<20 { client.send([Data(), Data("c\(index)-r\(request)".utf8)]) }
        }
        for (index, client) in clients.enumerated() {
            var replies: [String] = []
            for await frames in client.messages {
                replies.append(String(decoding: frames[1], as: UTF8.self))
                if replies.count == 20 { break }
            }
            #expect(replies == (0..<20).map { "C\(index)-R\($0)" })
        }
        for client in clients { await client.close() }
        await server.close()
        await serving.value
        await serverIO.value
    }

    @Test func unreadMessagesAreBoundedAndNoneIsLost() async throws {
        let pull = try Socket(.pull, options: [.receiveHighWaterMark(10)])
        try pull.bind("tcp://127.0.0.1:*")
        let receiver = AsyncSocket(pull, receiveBuffer: 5)
        let push = try Socket(.push, options: [.sendHighWaterMark(10)])
        try push.connect(receiver.lastEndpoint)
        let sender = AsyncSocket(push)
        // Sent before the sockets run: they wait in the outbox.
        for index in 0..<500 { sender.send([Data(String(index).utf8)]) }
        Task { await receiver.run() }
        Task { await sender.run() }

        // Read slowly at first; every message still arrives, in order.
        try await Task.sleep(for: .milliseconds(200))
        var received: [Int] = []
        for await frames in receiver.messages {
            received.append(Int(String(decoding: frames[0], as: UTF8.self))!)
            if received.count == 500 { break }
        }
        #expect(received == Array(0..<500))
        await sender.close()
        await receiver.close()
    }

    @Test func closeEndsTheMessageSequence() async throws {
        let sub = try Socket(.sub)
        try sub.bind("tcp://127.0.0.1:*")
        let socket = AsyncSocket(sub)
        let io = Task { await socket.run() }
        let reader = Task { () -> Int in
            var count = 0
            for await _ in socket.messages { count += 1 }
            return count
        }
        await socket.close()
        #expect(await reader.value == 0)
        await io.value
    }

    /// The I/O thread lives as long as `run()`: none before, and cancelling the task that runs
    /// it closes the socket and ends the thread.
    @Test func theThreadStartsAndEndsWithRun() async throws {
        // A PAIR socket, which nothing else in the tests uses: its thread is `zmq-pair`.
        let pair = try Socket(.pair)
        try pair.bind("tcp://127.0.0.1:*")
        let socket = AsyncSocket(pair)
        #expect(threads(named: "zmq-pair") == 0)
        let io = Task { await socket.run() }
        try await waitUntil("the I/O thread") { threads(named: "zmq-pair") == 1 }
        io.cancel()
        await io.value
        // run() returns as the thread's last act: it is gone a moment later.
        try await waitUntil("the I/O thread to end") { threads(named: "zmq-pair") == 0 }
        var iterator = socket.messages.makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }

    @Test func aSocketThatNeverRanClosesAtOnce() async throws {
        let sub = try Socket(.sub)
        try sub.bind("tcp://127.0.0.1:*")
        let socket = AsyncSocket(sub)
        await socket.close()
        var iterator = socket.messages.makeAsyncIterator()
        #expect(await iterator.next() == nil)
        await socket.run()  // returns at once: it is closed
    }

    @Test func aFailedSendIsReportedOnceUntilSendsWorkAgain() async throws {
        let router = try Socket(.router, options: [.routerMandatory(true)])
        try router.bind("tcp://127.0.0.1:*")
        let reports = Mutex<[String]>([])
        let socket = AsyncSocket(router, errors: { what, error in reports.withLock { $0.append("\(what): \(error)") } })
        let io = Task { await socket.run() }
        for _ in 0..<3 { socket.send([Data("nobody".utf8), Data("hello".utf8)]) }
        try await waitUntil("a report") { !reports.withLock { $0.isEmpty } }
        try await Task.sleep(for: .milliseconds(100))
        #expect(reports.withLock { $0.count } == 1, "\(reports.withLock { $0 })")
        #expect(reports.withLock { $0.first?.hasPrefix("send: ") } == true)
        await socket.close()
        await io.value
    }
}

@Suite struct AsyncPublisherTests {
    @Test func aPublisherOnItsOwnThreadReachesASubscriber() async throws {
        let sub = try Socket(.sub, options: [.subscribe(Data()), .receiveTimeout(milliseconds: 100)])
        try sub.bind("tcp://127.0.0.1:*")
        let pub = try Socket(.pub)
        try pub.connect(sub.lastEndpoint)
        let publisher = AsyncSocket(pub)
        Task { await publisher.run() }
        // A publisher drops what it sends before the subscription has reached it: publish
        // until a message arrives (for at most ten seconds).
        var received: [Data]?
        for _ in 0..<100 where received == nil {
            publisher.send([Data("topic".utf8), Data("hello".utf8)])
            received = try sub.receive()
        }
        #expect(received == [Data("topic".utf8), Data("hello".utf8)])
        await publisher.close()
    }
}
