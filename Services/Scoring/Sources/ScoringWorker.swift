import Foundation
import Logging
import Redis
import TallyDomain
import TallyChanges
import TallyService
import TallyStore
import ZeroMQ

/// A scoring worker's poll loop: announces itself to ingestion, applies each job it is given
/// and reports back, heartbeats while idle, reconnects when ingestion falls silent, and leaves
/// only when ingestion has no job out to it.
/// One thread owns the sockets and the Redis connection.
final class ScoringWorker {
    private let configuration: ScoringConfiguration
    private let scorer: BatchScorer
    private let logger: Logger
    private let redis: RedisConnection
    private let publisher: Socket
    private let encoder = JSONEncoder()
    private var noticesFailing = false
    private let replicas: ReplicaAcknowledgement

    init(configuration: ScoringConfiguration, rules: RulesBook, logger: Logger) throws {
        self.configuration = configuration
        self.scorer = BatchScorer(rules: rules, contests: ContestCache())
        self.logger = logger
        self.redis = RedisConnection(configuration.redis)
        self.replicas = ReplicaAcknowledgement(timeoutMilliseconds: configuration.replicaWait.milliseconds)
        publisher = try Socket(.pub, options: [.sendHighWaterMark(10_000), .linger(milliseconds: 500)] + (configuration.serviceKey?.clientOptions ?? []))
        for endpoint in configuration.notify { try publisher.connect(endpoint) }
    }

    /// Serves until `stop`; then says BYE, answers whatever jobs were already on their way
    /// until ingestion's BYE, and returns only once its last DONE has left (or the linger has
    /// passed): the DEALER has a context of its own, whose termination waits for it, where the
    /// shared one is never terminated before exit.
    func run(until stop: StopSignal) throws {
        let context = try Context()
        try withExtendedLifetime(context) {
            var socket: Socket? = try connect(context)
            defer { socket = nil }
            try serve(until: stop, socket: &socket!, context: context)
            try sayGoodbye(on: socket!)
        }
        logger.info("stopped")
    }

    /// Answers jobs until ingestion lets the worker go, or falls silent.
    private func sayGoodbye(on socket: Socket) throws {
        try socket.send(WorkerCommand.bye.frame)
        let silence = configuration.heartbeatInterval.milliseconds * Int64(configuration.heartbeatLiveness)
        var ingestionSeen = Timestamp.now()
        while Timestamp.now() - ingestionSeen <= silence {
            var poller = Poller()
            poller.add(socket)
            guard try poller.poll(timeout: Int(configuration.heartbeatInterval.milliseconds))[0].contains(.readable) else { continue }
            while let frames = try socket.receive(dontWait: true) {
                ingestionSeen = Timestamp.now()
                if try handle(frames, on: socket) == .bye { return }
            }
        }
        logger.warning("ingestion did not answer the goodbye; leaving anyway")
    }

    /// Answers a job; returns the command it was given.
    private func handle(_ frames: [Data], on socket: Socket) throws -> WorkerCommand? {
        let command = frames.first.flatMap(WorkerCommand.init(frame:))
        if command == .job, frames.count >= 3 {
            let result = process(frames[2])
            try socket.send([WorkerCommand.done.frame, frames[1], try encoder.encode(result)])
        }
        return command
    }

    private func serve(until stop: StopSignal, socket: inout Socket, context: Context) throws {
        let interval = configuration.heartbeatInterval.milliseconds
        let silence = interval * Int64(configuration.heartbeatLiveness)
        var ingestionSeen = Timestamp.now()
        var nextHeartbeat = ingestionSeen + interval

        while !stop.isStopped {
            var poller = Poller()
            poller.add(socket)
            poller.add(fileDescriptor: stop.fileDescriptor)
            let ready = try poller.poll(timeout: Int(interval))
            if ready[0].contains(.readable) {
                while let frames = try socket.receive(dontWait: true) {
                    ingestionSeen = Timestamp.now()
                    if try handle(frames, on: socket) == .job { nextHeartbeat = Timestamp.now() + interval }
                }
            }
            let now = Timestamp.now()
            if now - ingestionSeen > silence {
                logger.warning("ingestion silent; reconnecting", metadata: ["endpoint": "\(configuration.ingestion)"])
                socket = try connect(context)
                ingestionSeen = now
            }
            if now >= nextHeartbeat {
                try socket.send(WorkerCommand.heartbeat.frame)
                nextHeartbeat = now + interval
            }
        }
    }

    /// How long a closed DEALER keeps trying to deliver what it still holds (a DONE, the BYE).
    static let linger: Int32 = 1_000

    /// A fresh DEALER that has said READY. The old one, if any, is closed by the caller
    /// dropping it.
    private func connect(_ context: Context) throws -> Socket {
        let socket = try Socket(.dealer, context: context, options: [
            .linger(milliseconds: Self.linger), .maxMessageSize(configuration.maxMessageSize),
        ] + (configuration.serviceKey?.clientOptions ?? []))
        try socket.connect(configuration.ingestion)
        try socket.send(WorkerCommand.ready.frame)
        return socket
    }

    /// Sends a change notice to notification, never waiting. A PUB socket drops what a slow or
    /// absent subscriber cannot take without a word (notification's periodic re-read repairs
    /// its boards); what fails here is logged once until a notice goes out again.
    private func publish(_ notice: ChangeNotice) {
        do {
            _ = try publisher.send(try ChangeMessage.changes(notice).frames(encoder: encoder), dontWait: true)
            noticesFailing = false
        } catch {
            if !noticesFailing { logger.warning("change notice not sent", metadata: ["org": "\(notice.org)", "error": "\(error)"]) }
            noticesFailing = true
        }
    }

    private func process(_ payload: Data) -> JobResult {
        let job: Job
        do {
            job = try Job(encoded: payload)
        } catch {
            logger.error("unreadable job", metadata: ["error": "\(error)"])
            return JobResult(statuses: [], error: "unreadable job")
        }
        do {
            let outcome = try scorer.score(job.events, now: Timestamp.now(), redis: redis)
            guard try replicas.confirm(on: redis, now: Timestamp.now()) else {
                logger.warning("batch applied, but no replica has it yet: answered unavailable", metadata: [
                    "events": "\(job.events.count)", "waited": "\(configuration.replicaWait)",
                ])
                return JobResult(statuses: [], error: "unavailable")
            }
            for notice in outcome.notices { publish(notice) }
            logger.debug("batch applied", metadata: ["events": "\(job.events.count)"])
            return JobResult(statuses: outcome.statuses)
        } catch {
            logger.error("batch not applied", metadata: ["events": "\(job.events.count)", "error": "\(error)"])
            return JobResult(statuses: [], error: "unavailable")
        }
    }
}
