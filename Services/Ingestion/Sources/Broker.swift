import Foundation
import Logging
import TallyDomain
import TallyService
import ZeroMQ

/// The front door's poll loop: takes field-app requests on the frontend, batches their valid
/// events into jobs for the least recently used ready worker on the backend, and answers each
/// request once its job is committed. A worker that falls silent loses its jobs to another.
/// Everything here runs on one thread, which owns both sockets.
final class Broker {
    private let configuration: IngestionConfiguration
    private let logger: Logger
    /// A reply could not be sent, and none has been since (so it is logged once).
    private var replyFailing = false
    private let frontend: Socket
    private let backend: Socket

    /// A field app's request waiting for a worker or for its job.
    private struct Request {
        var envelope: [Data]
        var items: [EventRequest.Item]
        var deadline: Int64
        var validCount: Int
    }

    private struct Worker {
        var lastSeen: Int64
        var jobs: Set<UInt64> = []
    }

    private struct InFlight {
        var worker: Data
        var requests: [Request]
    }

    private var waiting: [Request] = []
    private var waitingHead = 0
    private var workers: [Data: Worker] = [:]
    private var ready: [Data] = []
    private var jobs: [UInt64: InFlight] = [:]
    private var nextJob: UInt64 = 1
    private var nextHeartbeat: Int64 = 0
    private let encoder = JSONEncoder()
    private let decoder = JSONDecoder()

    /// The ports actually bound (for `tcp://…:*` or port 0 in tests).
    var frontendEndpoint: String { frontend.lastEndpoint }
    var backendEndpoint: String { backend.lastEndpoint }

    init(configuration: IngestionConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        frontend = try Socket(.router, options: [
            .maxMessageSize(configuration.maxMessageSize), .routerMandatory(false),
            .sendHighWaterMark(100_000), .receiveHighWaterMark(100_000),
        ])
        backend = try Socket(.router, options: [
            .maxMessageSize(configuration.maxMessageSize), .routerMandatory(true),
            .sendHighWaterMark(10_000), .receiveHighWaterMark(10_000),
        ])
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
                logger.info("stopping: finishing work in flight", metadata: ["requests": "\(pendingRequests)"])
            }
            if let drainDeadline {
                if pendingRequests == 0 { break }
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

    private var pendingRequests: Int {
        waiting.count - waitingHead + jobs.values.reduce(0) { $0 + $1.requests.count }
    }

    // MARK: - Field apps

    private func drainFrontend() throws {
        // Take at most a bounded number at once so the backend is never starved.
        for _ in 0..<1_000 {
            guard let frames = try frontend.receive(dontWait: true) else { return }
            handleRequest(frames)
        }
    }

    private func handleRequest(_ frames: [Data]) {
        guard frames.count >= 2, let body = frames.last else { return }
        let envelope = Array(frames.dropLast())
        let now = Timestamp.now()
        let request: EventRequest
        do {
            request = try EventRequest.decode(body, receivedAt: now)
        } catch {
            reply(envelope, IngestReply(ok: false, error: error.description))
            return
        }
        switch request {
        case .ping:
            reply(envelope, IngestReply(ok: true, op: "pong"))
        case .events(let items):
            let valid = items.reduce(0) { $0 + ((try? $1.outcome.get()) == nil ? 0 : 1) }
            let pending = Request(
                envelope: envelope, items: items,
                deadline: now + configuration.unavailableAfter.milliseconds, validCount: valid)
            if valid == 0 {
                answer(pending, statuses: [])
            } else {
                waiting.append(pending)
            }
        }
    }

    /// Answers a request: the worker's statuses fill its valid events, in order.
    private func answer(_ request: Request, statuses: ArraySlice<EventStatus>) {
        var next = statuses.startIndex
        let results = request.items.map { item -> EventStatus in
            switch item.outcome {
            case .failure(let rejection):
                return EventStatus(id: item.id, status: .rejected, error: rejection.description)
            case .success:
                defer { next += 1 }
                var status = statuses[next]
                status.id = item.id
                return status
            }
        }
        reply(request.envelope, IngestReply(ok: true, results: results))
    }

    private func answerUnavailable(_ request: Request) {
        let retry = Int(configuration.heartbeatInterval.milliseconds)
        reply(request.envelope, IngestReply(ok: false, error: "unavailable", retryAfterMs: retry))
    }

    private func answerAllUnavailable() {
        for request in waiting[waitingHead...] { answerUnavailable(request) }
        waiting.removeAll()
        waitingHead = 0
        for job in jobs.values { job.requests.forEach(answerUnavailable) }
        jobs.removeAll()
    }

    private func reply(_ envelope: [Data], _ reply: IngestReply) {
        // The ROUTER drops a reply to a client that went away or whose queue is full without a
        // word (it is not ROUTER_MANDATORY); what fails here is logged once until a reply goes
        // out again.
        do {
            _ = try frontend.send(envelope + [try encoder.encode(reply)], dontWait: true)
            replyFailing = false
        } catch {
            if !replyFailing { logger.warning("a reply to a field app was not sent", metadata: ["error": "\(error)"]) }
            replyFailing = true
        }
    }

    // MARK: - Workers

    private func drainBackend() throws {
        while let frames = try backend.receive(dontWait: true) {
            guard frames.count >= 2, let command = WorkerCommand(frame: frames[1]) else { continue }
            let id = frames[0]
            let now = Timestamp.now()
            switch command {
            case .ready:
                if workers[id] == nil {
                    logger.info("worker joined", metadata: ["worker": "\(id.hexDescription)"])
                }
                workers[id, default: Worker(lastSeen: now)].lastSeen = now
                if !ready.contains(id) { ready.append(id) }
            case .heartbeat:
                workers[id]?.lastSeen = now
            case .done:
                workers[id]?.lastSeen = now
                guard frames.count >= 4 else { continue }
                finish(job: UInt64(String(decoding: frames[2], as: UTF8.self)) ?? 0, body: frames[3], worker: id)
                if workers[id] != nil && !ready.contains(id) { ready.append(id) }
            case .bye:
                removeWorker(id, reason: "left")
            case .job:
                continue
            }
        }
    }

    private func finish(job id: UInt64, body: Data, worker: Data) {
        workers[worker]?.jobs.remove(id)
        // A job given to another worker after this one was presumed dead is answered once.
        guard let job = jobs.removeValue(forKey: id), job.worker == worker else { return }
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

    /// Gives a dead or departed worker's jobs back to the front of the queue.
    private func removeWorker(_ id: Data, reason: String) {
        guard let worker = workers.removeValue(forKey: id) else { return }
        ready.removeAll { $0 == id }
        let now = Timestamp.now()
        var requeued: [Request] = []
        for jobID in worker.jobs.sorted() {
            guard let job = jobs.removeValue(forKey: jobID) else { continue }
            for var request in job.requests {
                request.deadline = now + configuration.unavailableAfter.milliseconds
                requeued.append(request)
            }
        }
        logger.log(
            level: reason == "left" ? .info : .warning, "worker removed",
            metadata: ["worker": "\(id.hexDescription)", "reason": "\(reason)", "requeued-requests": "\(requeued.count)"])
        if !requeued.isEmpty {
            waiting = requeued + waiting[waitingHead...]
            waitingHead = 0
        }
    }

    /// Heartbeats, dead workers, requests that waited too long.
    private func tick(now: Int64) {
        let interval = configuration.heartbeatInterval.milliseconds
        if now >= nextHeartbeat {
            nextHeartbeat = now + interval
            for id in workers.keys {
                do {
                    try backend.send([id, WorkerCommand.heartbeat.frame], dontWait: true)
                } catch {
                    removeWorker(id, reason: "unreachable")
                }
            }
        }
        let silence = interval * Int64(configuration.heartbeatLiveness)
        for (id, worker) in workers where now - worker.lastSeen > silence {
            removeWorker(id, reason: "silent")
        }
        while waitingHead < waiting.count, waiting[waitingHead].deadline <= now {
            answerUnavailable(waiting[waitingHead])
            waitingHead += 1
        }
        compactQueue()
    }

    /// Sends waiting requests to ready workers, as many events per job as allowed.
    private func dispatch() {
        while waitingHead < waiting.count, !ready.isEmpty {
            let worker = ready.removeFirst()
            var requests: [Request] = []
            var events: [ActivityEvent] = []
            while waitingHead < waiting.count {
                let request = waiting[waitingHead]
                if !events.isEmpty && events.count + request.validCount > configuration.maxBatchEvents { break }
                for item in request.items { if case .success(let event) = item.outcome { events.append(event) } }
                requests.append(request)
                waitingHead += 1
            }
            let id = nextJob
            nextJob += 1
            let payload = Job(events: events).encoded()
            do {
                try backend.send([worker, WorkerCommand.job.frame, Data(String(id).utf8), payload], dontWait: true)
                jobs[id] = InFlight(worker: worker, requests: requests)
                workers[worker]?.jobs.insert(id)
            } catch {
                // The worker is gone: put the requests back and forget it.
                waiting.replaceSubrange(waitingHead - requests.count..<waitingHead, with: requests)
                waitingHead -= requests.count
                removeWorker(worker, reason: "unreachable")
            }
        }
        compactQueue()
    }

    private func compactQueue() {
        if waitingHead > 0 && waitingHead * 2 >= waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
    }
}

extension Data {
    var hexDescription: String { map { String(format: "%02x", $0) }.joined() }
}
