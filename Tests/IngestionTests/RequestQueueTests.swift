import Foundation
@testable import Ingestion
import Testing

/// The front door's waiting line on its own: clients served in turn, each held to its bounds,
/// requests given back by a lost worker first in line, expiry by deadline.
@Suite struct RequestQueueTests {
    static func request(_ client: String, _ id: Int, events: Int = 1, bytes: Int = 100, deadline: Int64 = 1_000) -> PendingRequest {
        PendingRequest(
            envelope: [Data(client.utf8), Data()], results: [], payload: Data(repeating: UInt8(id), count: 10 * events),
            validCount: events, bytes: bytes, deadline: deadline)
    }

    static func names(_ requests: [PendingRequest]) -> [String] {
        requests.map { "\(String(decoding: $0.client, as: UTF8.self))\($0.payload.first ?? 0)" }
    }

    @Test func clientsAreServedInTurnWhateverTheyQueued() {
        var queue = RequestQueue(limits: .init(clientRequests: 100, clientBytes: 1 << 20, queueBytes: 1 << 30))
        for id in 1...3 { queue.admit(Self.request("a", id)) }
        queue.admit(Self.request("b", 1))
        // One event a job: the greedy client's three wait their turns around the other's one.
        var order: [String] = []
        while queue.waitingCount > 0 { order += Self.names(queue.nextJob(maxEvents: 1, maxBytes: 1 << 20)) }
        #expect(order == ["a1", "b1", "a2", "a3"])
        // Room for more: a job takes one request from each client in turn until it is full.
        for id in 1...3 { queue.admit(Self.request("a", id)) }
        queue.admit(Self.request("b", 1))
        #expect(Self.names(queue.nextJob(maxEvents: 3, maxBytes: 1 << 20)) == ["a1", "b1", "a2"])
        // Bytes bound a job too, but its first request always goes.
        #expect(Self.names(queue.nextJob(maxEvents: 100, maxBytes: 1)) == ["a3"])
    }

    @Test func aClientIsHeldToItsBoundsUntilItsRequestsAreAnswered() {
        var queue = RequestQueue(limits: .init(clientRequests: 2, clientBytes: 250, queueBytes: 1_000))
        let first = Self.request("a", 1), second = Self.request("a", 2)
        queue.admit(first)
        queue.admit(second)
        #expect(!queue.admits(100, from: Data("a".utf8)), "a third request over the count")
        #expect(queue.admits(100, from: Data("b".utf8)), "another client is not held back")
        let job = queue.nextJob(maxEvents: 10, maxBytes: 1 << 20)
        #expect(!queue.admits(100, from: Data("a".utf8)), "in a job still counts until answered")
        queue.release(job[0])
        #expect(queue.admits(50, from: Data("a".utf8)))
        #expect(!queue.admits(200, from: Data("a".utf8)), "over the client's bytes")
        #expect(!queue.admits(901, from: Data("c".utf8)), "over the queue's bytes")
        queue.release(job[1])
        #expect(queue.admittedCount == 0 && queue.admittedBytes == 0)
    }

    @Test func requestsALostWorkerHadGoFirstAndExpiryTakesWhatIsDue() {
        var queue = RequestQueue(limits: .init(clientRequests: 100, clientBytes: 1 << 20, queueBytes: 1 << 30))
        queue.admit(Self.request("a", 1, deadline: 500))
        queue.admit(Self.request("a", 2, deadline: 2_000))
        let job = queue.nextJob(maxEvents: 1, maxBytes: 1 << 20)
        queue.requeue(job)
        #expect(Self.names(queue.nextJob(maxEvents: 2, maxBytes: 1 << 20)) == ["a1", "a2"])
        queue.requeue([Self.request("a", 1, deadline: 500), Self.request("a", 2, deadline: 2_000)])
        #expect(Self.names(queue.expire(now: 1_000)) == ["a1"])
        #expect(queue.waitingCount == 1)
        #expect(Self.names(queue.removeAllWaiting()) == ["a2"])
        #expect(queue.waitingCount == 0)
    }
}
