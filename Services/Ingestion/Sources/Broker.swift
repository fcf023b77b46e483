import Foundation
import Logging
import TallyDomain
import TallyService
import ZeroMQ

/// The front door's poll loop: takes field-app requests on the frontend, batches their valid
/// events into jobs for the least recently used ready worker on the backend, and answers each
/// request once its job is committed. A worker that falls silent, cannot be sent to, or sits
/// on a job too long loses its job to another.
/// Everything here runs on one thread, which owns both sockets.
///
/// Every input has a bounded cost: a client may hold a bounded number of requests and bytes
/// in flight (the excess is answered `unavailable` before it is decoded), all clients together
/// a bounded number of bytes, libzmq queues a bounded number of messages per peer, a worker
/// holds one job at a time, and a job is bounded in events and bytes.
final class Broker {
    private let configuration: IngestionConfiguration
    private let logger: Logger
    /// A reply could not be sent, and none has been since (so it is logged once).
    private var replyFailing = false
    /// A DONE came for a job its sender was not given, and no good one since (logged once).
    private var strayDone = false
    private let frontend: Socket
    private let backend: Socket
    /// Set when the front door is CURVE: which org each request's key writes for.
    private let fieldKeys: FieldKeys?

    private struct Worker {
        var lastSeen: Int64
        /// At most one: a worker is given a job only when it has none.
        var jobs: Set<UInt64> = []
        /// It said BYE with a job still out: it gets no more, and is let go once that is answered.
        var leaving = false
    }

    private struct InFlight {
        var worker: Data
        var requests: [PendingRequest]
        var sentAt: Int64
    }

    private var queue: RequestQueue
    private var workers: [Data: Worker] = [:]
    private var ready: [Data] = []
    private var jobs: [UInt64: InFlight] = [:]
    private var nextJob: UInt64 = 1
    private var nextHeartbeat: Int64 = 0
    private let encoder = JSONEncoder()
    private let decoder = JSONDecoder()

    /// Messages libzmq queues per field app each way. Inbound, at 1 MiB each, this is what a
    /// client can make ingestion hold before TCP pushes back; replies are small.
    static let frontendReceiveQueue: Int32 = 16
    static let frontendSendQueue: Int32 = 1_000

    /// The ports actually bound (for `tcp://…:*` or port 0 in tests).
    var frontendEndpoint: String { frontend.lastEndpoint }
    var backendEndpoint: String { backend.lastEndpoint }

    init(configuration: IngestionConfiguration, fieldKeys: FieldKeys?, logger: Logger) throws {
        self.configuration = configuration
        self.fieldKeys = fieldKeys
        self.logger = logger
        queue = RequestQueue(limits: .init(
            clientRequests: configuration.maxClientRequests, clientBytes: configuration.maxClientBytes,
            queueBytes: configuration.maxQueuedBytes))
        frontend = try Socket(.router, options: [
            .maxMessageSize(configuration.maxMessageSize), .routerMandatory(false),
            .sendHighWaterMark(Self.frontendSendQueue), .receiveHighWaterMark(Self.frontendReceiveQueue),
        ] + (configuration.curveKey?.serverOptions(domain: ZAPDomain.field) ?? []))
        // A worker's DONE can be as long as the largest result of a full job.
        let results = Int64(JobResult.maxEncodedBytes(events: configuration.maxBatchEvents))
        backend = try Socket(.router, options: [
            .maxMessageSize(max(configuration.maxMessageSize, results)), .routerMandatory(true),
            .sendHighWaterMark(1_000), .receiveHighWaterMark(1_000),
        ] + (configuration.serviceKey?.serverOptions ?? []))
        try frontend.bind(configuration.frontend)
        try backend.bind(configuration.backend)
    }

    /// Serves until `stop`, then stops taking requests, finishes what is in flight (within the
    /// shutdown grace) and returns.
    func run(until stop: StopSignal) throws {
        var poller = Poller()
        let frontendItem = poller.add(frontend)
        let backendItem = poller.add(backend)
        let stopItem = poller.add(fileDescriptor: stop.fileDescriptor)
        var drainDeadline: Int64?

        while true {
            let now = Timestamp.now()
            if stop.isStopped && drainDeadline == nil {
                drainDeadline = now + configuration.shutdownGrace.milliseconds
                poller.setEvents([], at: frontendItem)
                poller.setEvents([], at: stopItem)
                logger.info("stopping: finishing work in flight", metadata: ["requests": "\(queue.admittedCount)"])
            }
            if let drainDeadline {
                if queue.admittedCount == 0 { break }
                if now >= drainDeadline {
                    answerAllUnavailable()
                    break
                }
            }
            let ready = try poller.poll(timeout: 100)
            if ready[backendItem].contains(.readable) { try drainBackend() }
            if ready[frontendItem].contains(.readable) { try drainFrontend() }
            tick(now: Timestamp.now())
            dispatch()
        }
        logger.info("stopped")
    }

    // MARK: - Field apps

    private func drainFrontend() throws {
        // Take at most a bounded number at once so the backend is never starved.
        for _ in 0..<1_000 {
            guard let (frames, userID) = try frontend.receiveWithUserID(dontWait: true) else { return }
            handleRequest(frames, key: userID)
        }
    }

    /// `key` is the public key the ZAP handler admitted the sender by (nil on plain text).
    private func handleRequest(_ frames: [Data], key: String?) {
        guard frames.count >= 2, let body = frames.last else { return }
        let envelope = Array(frames.dropLast())
        // The key's org, looked up for every request: a key revoked since its connection was
        // admitted is refused from the next refresh of the keys on.
        var org: String?
        if let fieldKeys {
            switch key.map({ fieldKeys.standing(of: $0) }) ?? .notRegistered {
            case .org(let keyOrg): org = keyOrg
            case .notRegistered: return reply(envelope, IngestReply(ok: false, error: "key: this key is not registered (or was revoked)"))
            case .unknown: return reply(envelope, unavailable)  // the keys can't be read now: nothing is taken on an old set
            }
        }
        // Refused before it costs a decode: over its client's bounds, or the queue's.
        guard queue.admits(body.count, from: envelope[0]) else {
            return reply(envelope, unavailable)
        }
        let now = Timestamp.now()
        let request: EventRequest
        do {
            request = try EventRequest.decode(body, receivedAt: now, org: org)
        } catch {
            reply(envelope, IngestReply(ok: false, error: error.description))
            return
        }
        switch request {
        case .ping:
            reply(envelope, IngestReply(ok: true, op: "pong"))
        case .events(let items):
            var valid: [ActivityEvent] = []
            let results = items.map { item -> EventStatus in
                switch item.outcome {
                case .failure(let rejection):
                    return EventStatus(id: item.id, status: .rejected, error: rejection.description)
                case .success(let event):
                    valid.append(event)
                    return EventStatus(id: item.id, status: .accepted)
                }
            }
            guard !valid.isEmpty else {
                return reply(envelope, IngestReply(ok: true, results: results))
            }
            queue.admit(PendingRequest(
                envelope: envelope, results: results, payload: Job(events: valid).encoded(), validCount: valid.count,
                bytes: body.count, deadline: now + configuration.unavailableAfter.milliseconds))
        }
    }

    /// Answers a request: the worker's statuses fill its valid events, in order.
    private func answer(_ request: PendingRequest, statuses: ArraySlice<EventStatus>) {
        queue.release(request)
        var results = request.results
        var next = statuses.startIndex
        for index in results.indices where results[index].status != .rejected {
            let id = results[index].id
            results[index] = statuses[next]
            results[index].id = id
            next += 1
        }
        reply(request.envelope, IngestReply(ok: true, results: results))
    }

    private var unavailable: IngestReply {
        IngestReply(ok: false, error: "unavailable", retryAfterMs: Int(configuration.heartbeatInterval.milliseconds))
    }

    private func answerUnavailable(_ request: PendingRequest) {
        queue.release(request)
        reply(request.envelope, unavailable)
    }

    private func answerAllUnavailable() {
        queue.removeAllWaiting().forEach(answerUnavailable)
        for job in jobs.values { job.requests.forEach(answerUnavailable) }
        jobs.removeAll()
    }

    private func reply(_ envelope: [Data], _ reply: IngestReply) {
        // The ROUTER drops a reply to a client that went away or whose queue is full without a
        // word (it is not ROUTER_MANDATORY); what fails here is logged once until a reply goes
        // out again.
        let failure: String
        do {
            if try frontend.send(envelope + [try encoder.encode(reply)], dontWait: true) {
                replyFailing = false
                return
            }
            failure = "the client's queue is full"
        } catch {
            failure = "\(error)"
        }
        if !replyFailing { logger.warning("a reply to a field app was not sent", metadata: ["error": "\(failure)"]) }
        replyFailing = true
    }

    // MARK: - Workers

    private func drainBackend() throws {
        for _ in 0..<1_000 {
            guard let (frames, userID) = try backend.receiveWithUserID(dontWait: true) else { return }
            // The ZAP handler admits only the service key; this holds even if it were not bound.
            if configuration.serviceKey != nil, userID != "service" { continue }
            guard frames.count >= 2, let command = WorkerCommand(frame: frames[1]) else { continue }
            let id = frames[0]
            let now = Timestamp.now()
            switch command {
            case .ready:
                if workers[id] == nil {
                    logger.info("worker joined", metadata: ["worker": "\(id.hexDescription)"])
                }
                workers[id, default: Worker(lastSeen: now)].lastSeen = now
                makeReady(id)
            case .heartbeat:
                workers[id]?.lastSeen = now
            case .done:
                workers[id]?.lastSeen = now
                if frames.count >= 4 {
                    finish(job: UInt64(String(decoding: frames[2], as: UTF8.self)) ?? 0, body: frames[3], worker: id)
                }
                if workers[id]?.leaving == true {
                    letGo(id)
                } else {
                    makeReady(id)
                }
            case .bye:
                if let worker = workers[id], !worker.jobs.isEmpty {
                    workers[id]!.leaving = true
                    ready.removeAll { $0 == id }
                } else {
                    letGo(id)
                }
            case .job:
                continue
            }
        }
    }

    /// A known worker with no job joins the back of the ready list.
    private func makeReady(_ id: Data) {
        guard let worker = workers[id], worker.jobs.isEmpty, !worker.leaving, !ready.contains(id) else { return }
        ready.append(id)
    }

    private func finish(job id: UInt64, body: Data, worker: Data) {
        // Only the worker a job was given to may finish it: a DONE from anyone else (a stale
        // connection, a peer counting job ids) changes nothing. A job given to another worker
        // after this one was presumed dead is answered once.
        guard let job = jobs[id], job.worker == worker else {
            if !strayDone {
                logger.warning("a DONE for a job its sender was not given, ignored", metadata: [
                    "job": "\(id)", "worker": "\(worker.hexDescription)",
                ])
            }
            strayDone = true
            return
        }
        strayDone = false
        jobs[id] = nil
        workers[worker]?.jobs.remove(id)
        guard let result = try? decoder.decode(JobResult.self, from: body), result.error == nil,
            result.statuses.count == job.requests.reduce(0, { $0 + $1.validCount })
        else {
            logger.warning("job not applied", metadata: ["job": "\(id)"])
            job.requests.forEach(answerUnavailable)
            return
        }
        var offset = 0
        for request in job.requests {
            answer(request, statuses: result.statuses[offset..<offset + request.validCount])
            offset += request.validCount
        }
    }

    /// A worker that said BYE and holds no job: removed, and told so, which lets it exit.
    private func letGo(_ id: Data) {
        removeWorker(id, reason: "left")
        _ = try? backend.send([id, WorkerCommand.bye.frame], dontWait: true)
    }

    /// How many workers a request may lose before it is answered `unavailable`.
    static let maxLostAttempts = 3

    /// Gives a dead, departed or unreachable worker's jobs back to the front of the queue.
    private func removeWorker(_ id: Data, reason: String) {
        guard let worker = workers.removeValue(forKey: id) else { return }
        ready.removeAll { $0 == id }
        let deadline = Timestamp.now() + configuration.unavailableAfter.milliseconds
        var requeued: [PendingRequest] = []
        for jobID in worker.jobs.sorted() {
            guard let job = jobs.removeValue(forKey: jobID) else { continue }
            for var request in job.requests {
                // A request whose workers keep being lost (one that makes them fail, or peers
                // that take jobs and vanish) is not tried forever: the field app hears
                // `unavailable` and resends it later, safely.
                request.lostAttempts += 1
                if request.lostAttempts >= Self.maxLostAttempts {
                    answerUnavailable(request)
                    continue
                }
                request.deadline = deadline
                requeued.append(request)
            }
        }
        logger.log(
            level: reason == "left" ? .info : .warning, "worker removed",
            metadata: ["worker": "\(id.hexDescription)", "reason": "\(reason)", "requeued-requests": "\(requeued.count)"])
        queue.requeue(requeued)
    }

    /// Sends to a worker without waiting. A message that cannot be queued (the worker is
    /// gone, or so far behind that its queue is full) is as good as lost: the worker is
    /// removed and its job goes to another.
    private func send(_ frames: [Data], to worker: Data) -> Bool {
        let failure: String
        do {
            if try backend.send([worker] + frames, dontWait: true) { return true }
            failure = "its queue is full"
        } catch {
            failure = "\(error)"
        }
        logger.warning("a message to a worker was not sent", metadata: ["worker": "\(worker.hexDescription)", "error": "\(failure)"])
        removeWorker(worker, reason: "unreachable")
        return false
    }

    /// Heartbeats; workers silent or sitting on a job too long; requests that waited too long.
    private func tick(now: Int64) {
        let interval = configuration.heartbeatInterval.milliseconds
        if now >= nextHeartbeat {
            nextHeartbeat = now + interval
            for id in workers.keys { _ = send([WorkerCommand.heartbeat.frame], to: id) }
        }
        let silence = interval * Int64(configuration.heartbeatLiveness)
        for (id, worker) in workers where now - worker.lastSeen > silence {
            removeWorker(id, reason: "silent")
        }
        let overdue = jobs.values.filter { now - $0.sentAt > configuration.jobTimeout.milliseconds }.map(\.worker)
        for id in overdue { removeWorker(id, reason: "job timed out") }
        queue.expire(now: now).forEach(answerUnavailable)
    }

    /// Sends waiting requests to ready workers, a job each, as many events and bytes per job
    /// as allowed, taking from the clients in turn.
    private func dispatch() {
        while queue.waitingCount > 0, !ready.isEmpty {
            let worker = ready.removeFirst()
            let requests = queue.nextJob(maxEvents: configuration.maxBatchEvents, maxBytes: configuration.maxJobBytes)
            var payload = Data(capacity: requests.reduce(0) { $0 + $1.payload.count })
            for request in requests { payload.append(request.payload) }
            let id = nextJob
            nextJob += 1
            guard send([WorkerCommand.job.frame, Data(String(id).utf8), payload], to: worker) else {
                queue.requeue(requests)
                continue
            }
            jobs[id] = InFlight(worker: worker, requests: requests, sentAt: Timestamp.now())
            workers[worker]?.jobs.insert(id)
        }
    }
}

extension Data {
    var hexDescription: String { map { String(format: "%02x", $0) }.joined() }
}
