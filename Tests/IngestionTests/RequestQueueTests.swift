import Foundation
@testable import Ingestion
import Testing

/// The front door's waiting line on its own: the lightest client first, equals in turn, each held to its bounds,
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

    @Test func clientsOfEqualWeightTakeTurns() {
        var queue = RequestQueue(limits: .init(clientRequests: 100, clientBytes: 1 << 20, queueBytes: 1 << 30))
        for id in 1...2 { queue.admit(Self.request("a", id, events: 2)) }
        for id in 1...2 { queue.admit(Self.request("b", id, events: 2)) }
        // Both hold four events; a job of two events takes one request, and the other client is next.
        var order: [String] = []
        while queue.waitingCount > 0 { order += Self.names(queue.nextJob(maxEvents: 2, maxBytes: 1 << 20)) }
        #expect(order == ["a1", "b1", "a2", "b2"])
    }

    @Test func aClientWithOneEventWaitsBehindNoOneElsesPile() {
        var queue = RequestQueue(limits: .init(clientRequests: 100, clientBytes: 1 << 30, queueBytes: 1 << 30))
        // Three clients keep requests as large as a job waiting; one in progress already.
        for id in 1...3 {
            for client in ["f", "g", "h"] { queue.admit(Self.request(client, id, events: 1_000)) }
        }
        #expect(Self.names(queue.nextJob(maxEvents: 1_000, maxBytes: 1 << 30)) == ["f1"])
        // A field app's one event arrives behind eight waiting requests: it goes in the next job.
        queue.admit(Self.request("s", 1))
        #expect(Self.names(queue.nextJob(maxEvents: 1_000, maxBytes: 1 << 30)) == ["s1"])
        // Then the heavy clients in turn, whoever was served least recently first.
        #expect(Self.names(queue.nextJob(maxEvents: 1_000, maxBytes: 1 << 30)) == ["g1"])
        #expect(Self.names(queue.nextJob(maxEvents: 1_000, maxBytes: 1 << 30)) == ["h1"])
        // Light clients share a job: each takes what it has, lightest first, while it fits.
        queue.admit(Self.request("s", 2, events: 3))
        queue.admit(Self.request("t", 1))
        queue.admit(Self.request("t", 2))
        #expect(Self.names(queue.nextJob(maxEvents: 1_000, maxBytes: 1 << 30)) == ["t1", "t2", "s2"])
        // Bytes bound a job too, but its first request always goes.
        #expect(Self.names(queue.nextJob(maxEvents: 1_000, maxBytes: 1)) == ["f2"])
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
