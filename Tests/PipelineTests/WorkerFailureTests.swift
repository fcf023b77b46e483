import Foundation
import Redis
import TallyTesting
import Testing
import ZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// A field app that keeps many requests in flight over DEALER, and retries any request that
/// got no answer or an `unavailable`, with the same ids, as the SPEC tells clients to.
struct RetryingClient {
    let socket: Socket
    let retryAfter: TimeInterval

    init(endpoint: String, retryAfter: TimeInterval = 3) throws {
        socket = try Socket(.dealer, options: [.receiveTimeout(milliseconds: 50), .linger(milliseconds: 0)])
        try socket.connect(endpoint)
        self.retryAfter = retryAfter
    }

    /// Sends every request (keyed by its index) with `window` in flight until each has an `ok`
    /// answer; `afterSending` sees the number answered so far each time the window was refilled.
    /// Returns each event's final status.
    func deliver(_ requests: [String], window: Int, afterSending: (Int) -> Void = { _ in }) throws -> [String: String] {
        var pending: [Int: Date] = [:]
        var answered = Set<Int>()
        var statuses: [String: String] = [:]
        var next = 0
        let deadline = Date().addingTimeInterval(180)
        func send(_ index: Int) throws {
            try socket.send([Data(), Data(requests[index].utf8)])
            pending[index] = Date()
        }
        while answered.count < requests.count {
            guard Date() < deadline else { throw TestSetupError("requests still unanswered: \(pending.keys.sorted().prefix(10))") }
            var sent = false
            while pending.count < window && next < requests.count {
                try send(next)
                next += 1
                sent = true
            }
            if sent { afterSending(answered.count) }
            if let frames = try socket.receive(), frames.count == 2 {
                let reply = try JSONDecoder().decode(Reply.self, from: frames[1])
                // Requests are told apart by their first event id: "<request>-<n>".
                if reply.ok, let results = reply.results, let first = results.first?.id,
                    let index = Int(first.split(separator: "-")[0].dropFirst()), !answered.contains(index)
                {
                    answered.insert(index)
                    pending[index] = nil
                    for result in results { statuses[result.id!] = result.status }
                } else if !reply.ok {
                    // `unavailable` does not say which request: the retry timer resends it.
                }
            }
            for (index, sent) in pending where Date().timeIntervalSince(sent) > retryAfter {
                try send(index)
            }
        }
        return statuses
    }
}

@Suite(.serialized) struct WorkerFailureTests {
    let at = Date().addingTimeInterval(-60)

    /// 5,000 events in 500 requests of ten: reps, teams, every kind, deals of many sizes.
    func stream() -> (requests: [String], events: [Expected.Event]) {
        let kinds = ["door_knock", "call", "email", "appointment", "demo", "proposal", "deal_won"]
        var requests: [String] = []
        var all: [Expected.Event] = []
        for request in 0..<500 {
            let events = (0..<10).map { n -> Expected.Event in
                let i = request * 10 + n
                let kind = kinds[i % kinds.count]
                return Expected.Event(
                    id: "k\(request)-\(n)", rep: "rep-\(i % 50)", team: "team-\(i % 5)", kind: kind,
                    value: kind == "deal_won" ? Double(100 + i % 997) : 1)
            }
            all += events
            requests.append(batchJSON(events.map {
                eventJSON(id: $0.id, rep: $0.rep, team: $0.team, kind: $0.kind,
                          value: $0.kind == "deal_won" ? $0.value : nil, at: rfc3339(at))
            }))
        }
        return (requests, all)
    }

    @Test func aWorkerKilledMidStreamLosesNothingAndDoublesNothing() throws {
        let stack = try TallyStack()
        try stack.startIngestion()
        try stack.startWorker()
        try stack.startWorker()
        let (requests, events) = stream()
        let client = try RetryingClient(endpoint: stack.endpoint)

        var killedAt: Int?
        let statuses = try client.deliver(requests, window: 20) { answered in
            // Kill worker 1 just after new work went out, so that it is likely holding a job.
            if killedAt == nil && answered >= 100 {
                Thread.sleep(forTimeInterval: 0.01)
                stack.workers[0].signal(SIGKILL)
                killedAt = answered
            }
        }
        #expect(killedAt != nil && killedAt! < 500)
        #expect(stack.workers[0].wait() & 0x7f == SIGKILL)
        // Ingestion noticed the dead worker and handed its jobs to the other one.
        let removal = stack.ingestion!.output.split(separator: "\n").first { $0.contains("worker removed") }
        #expect(removal != nil, "\(stack.logs)")
        print("killed worker:", removal ?? "")
        // Every event is either counted now or was counted by an earlier try.
        #expect(statuses.count == 5_000)
        #expect(statuses.values.allSatisfy { $0 == "accepted" || $0 == "duplicate" })
        #expect(try stack.redis.connection().allBoards() == Expected.boards(events, at: at), "\(stack.logs)")
    }

    @Test func oneClientsThroughputIsCountedExactly() throws {
        let stack = try TallyStack()
        try stack.startIngestion()
        try stack.startWorker()
        let (requests, events) = stream()
        let client = try RetryingClient(endpoint: stack.endpoint)
        let start = Date()
        let statuses = try client.deliver(requests, window: 50)
        let seconds = Date().timeIntervalSince(start)
        print("throughput: \(Int(Double(events.count) / seconds)) events/s, one DEALER client, 50 requests of 10 in flight, 1 worker")
        #expect(statuses.values.allSatisfy { $0 == "accepted" })
        #expect(try stack.redis.connection().allBoards() == Expected.boards(events, at: at))
    }
}
