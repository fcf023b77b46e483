import Foundation
import TallyService

/// A field app's request, admitted: waiting for a worker or in a job.
struct PendingRequest {
    /// The ROUTER envelope; its first frame names the client.
    var envelope: [Data]
    /// One status per event in the request's order: ingestion's rejections final, the valid
    /// events' placeholders (`accepted`) filled in from the worker's statuses.
    var results: [EventStatus]
    /// The valid events, in `Job` encoding: a job is its requests' payloads end to end.
    var payload: Data
    var validCount: Int
    /// What the request counts against its client's and the queue's byte bounds: its size as received.
    var bytes: Int
    var deadline: Int64
    /// Jobs it went out in whose worker was lost before answering.
    var lostAttempts = 0

    var client: Data { envelope[0] }
}

/// The requests waiting for a worker: one queue per client, the lightest client first. A
/// client's weight is the events it holds, waiting or in a job, so a field app with one event
/// to send waits behind the job in progress and no more, however many large requests others
/// keep queued; clients of equal weight take turns. A heavy client served last is not starved
/// for long: its requests expire at their deadline and it is told `unavailable`, and its bounds
/// keep it from holding more. The queue also counts what each client and all of them hold,
/// which admission bounds.
struct RequestQueue {
    struct Limits {
        var clientRequests: Int
        var clientBytes: Int
        var queueBytes: Int
    }

    private struct Client {
        var waiting: [PendingRequest] = []
        var head = 0
        /// Admitted and not yet answered: waiting or in a job.
        var requests = 0
        var bytes = 0
        var events = 0

        var hasWaiting: Bool { head < waiting.count }

        mutating func popFirst() -> PendingRequest {
            defer {
                head += 1
                if head * 2 >= waiting.count {
                    waiting.removeFirst(head)
                    head = 0
                }
            }
            return waiting[head]
        }
    }

    let limits: Limits
    private var clients: [Data: Client] = [:]
    /// Clients with requests waiting, in the order they are served.
    private var turns: [Data] = []
    private(set) var waitingCount = 0
    /// Admitted and not yet answered, over all clients.
    private(set) var admittedCount = 0
    private(set) var admittedBytes = 0

    init(limits: Limits) { self.limits = limits }

    /// Whether a request of `bytes` from `client` may be admitted: within its client's bounds
    /// (a client with nothing in flight may always send one request) and the queue's.
    func admits(_ bytes: Int, from client: Data) -> Bool {
        if admittedBytes + bytes > limits.queueBytes { return false }
        guard let holding = clients[client] else { return true }
        return holding.requests < limits.clientRequests && holding.bytes + bytes <= limits.clientBytes
    }

    /// Takes a request in: counted against its client from now until `release`.
    mutating func admit(_ request: PendingRequest) {
        clients[request.client, default: Client()].requests += 1
        clients[request.client]!.bytes += request.bytes
        clients[request.client]!.events += request.validCount
        admittedCount += 1
        admittedBytes += request.bytes
        enqueue(request, atFront: false)
    }

    /// A request answered: its client's and the queue's counts go down.
    mutating func release(_ request: PendingRequest) {
        guard var client = clients[request.client] else { return }
        client.requests -= 1
        client.bytes -= request.bytes
        client.events -= request.validCount
        admittedCount -= 1
        admittedBytes -= request.bytes
        if client.requests == 0 && !client.hasWaiting {
            clients[request.client] = nil
        } else {
            clients[request.client] = client
        }
    }

    /// Puts back requests that were in a job (already admitted), ahead of their clients' others.
    mutating func requeue(_ requests: [PendingRequest]) {
        for request in requests.reversed() { enqueue(request, atFront: true) }
    }

    private mutating func enqueue(_ request: PendingRequest, atFront: Bool) {
        let id = request.client
        if clients[id]!.hasWaiting == false { turns.append(id) }
        if atFront {
            clients[id]!.waiting.insert(request, at: clients[id]!.head)
        } else {
            clients[id]!.waiting.append(request)
        }
        waitingCount += 1
    }

    /// The requests for one job: at most `maxEvents` valid events and `maxBytes` of payload,
    /// except that the first request always goes. Clients are taken lightest first (the events
    /// they hold do not change while a job is put together, so one ordering serves the whole
    /// job), each for as many of its requests as fit; clients served go to the back of their
    /// weight's turn.
    mutating func nextJob(maxEvents: Int, maxBytes: Int) -> [PendingRequest] {
        let order = turns.indices.sorted {
            (clients[turns[$0]]!.events, $0) < (clients[turns[$1]]!.events, $1)
        }.map { turns[$0] }
        var taken: [PendingRequest] = []
        var served: Set<Data> = []
        var events = 0
        var bytes = 0
        fill: for id in order {
            while clients[id]!.hasWaiting {
                let head = clients[id]!.waiting[clients[id]!.head]
                if !taken.isEmpty && (events + head.validCount > maxEvents || bytes + head.payload.count > maxBytes) { break fill }
                taken.append(clients[id]!.popFirst())
                events += head.validCount
                bytes += head.payload.count
                waitingCount -= 1
                served.insert(id)
            }
        }
        turns = turns.filter { !served.contains($0) } + order.filter { served.contains($0) && clients[$0]!.hasWaiting }
        return taken
    }

    /// Takes out every waiting request whose deadline has passed.
    mutating func expire(now: Int64) -> [PendingRequest] {
        var expired: [PendingRequest] = []
        for id in turns {
            while clients[id]!.hasWaiting, clients[id]!.waiting[clients[id]!.head].deadline <= now {
                expired.append(clients[id]!.popFirst())
                waitingCount -= 1
            }
        }
        if !expired.isEmpty { turns.removeAll { clients[$0]?.hasWaiting != true } }
        return expired
    }

    /// Takes out every waiting request.
    mutating func removeAllWaiting() -> [PendingRequest] {
        var all: [PendingRequest] = []
        for id in turns {
            while clients[id]!.hasWaiting { all.append(clients[id]!.popFirst()) }
        }
        turns.removeAll()
        waitingCount = 0
        return all
    }
}
