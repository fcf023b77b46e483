import Foundation
import Logging
import Prometheus
import Redis
import ServiceLifecycle
import TallyDomain
import TallyStore
import ZeroMQ

/// The operations over ZeroMQ request/reply: a ROUTER that takes `{"op": ..., ...}` JSON
/// from REQ or DEALER clients and answers `{"ok": true, ...}` or `{"ok": false, "error": ...}`.
///
/// The hot reads (`top`, `rank`, `around` of a metric board) and bad requests are answered on
/// the socket's own thread: what arrived together is sent to Redis as one pipeline on a
/// connection of that thread's, and answered when its replies arrive, while the thread goes on
/// reading and sending (`InlineReads`). Other operations are served
/// concurrently as tasks, at most `concurrency` at once: past that the socket's messages wait
/// unread (and then libzmq's high-water mark pushes back on the clients), so one client's flood
/// never becomes an unbounded pile of tasks and Redis calls. Each reply goes back through its
/// own envelope.
package struct ZMQTransport: Service {
    private let socket: AsyncSocket
    private let operations: Operations
    private let concurrency: Int
    private let inFlight: Gauge
    private let logger: Logger
    package var endpoint: String { socket.lastEndpoint }

    init(endpoint: String, maxMessageSize: Int64, concurrency: Int, operations: Operations, logger: Logger) throws {
        // At most 16 requests wait per connection inside libzmq (64 MiB at the 4 MiB a quota put
        // may take); past that TCP pushes back on that client alone.
        let router = try Socket(.router, options: [
            .maxMessageSize(maxMessageSize), .receiveHighWaterMark(16), .sendHighWaterMark(100_000),
        ])
        try router.bind(endpoint)
        socket = AsyncSocket(
            router, inline: InlineReads(operations: operations),
            errors: { what, error in logger.warning("zmq \(what) failed", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"]) })
        self.operations = operations
        self.concurrency = concurrency
        self.inFlight = operations.metrics.makeGauge(descriptor: .init(
            namespace: "tally", metricName: "zmq_requests_in_flight", unitName: "",
            helpText: "ZeroMQ requests being served as tasks (contests, admin operations), at most --zmq-concurrency."))
        self.logger = logger
    }

    package func run() async throws {
        async let io: Void = socket.run()
        await withTaskGroup(of: Void.self) { group in
            var started = 0
            for await frames in socket.messages.cancelOnGracefulShutdown() {
                guard frames.count >= 2 else { continue }
                // At the bound, the next request waits until one in flight is answered.
                if started == concurrency {
                    await group.next()
                    started -= 1
                }
                started += 1
                inFlight.increment()
                group.addTask {
                    let reply = await answer(frames.last!)
                    socket.send(Array(frames.dropLast()) + [reply])
                    inFlight.decrement()
                }
            }
        }
        await socket.close()
        await io
    }

    private func answer(_ body: Data) async -> Data {
        do {
            let (operation, token) = try Self.request(body)
            let answer = try await operations.run(operation, token: token, transport: "zmq")
            if let kept = answer as? ReadCache.Kept { return kept.zmq }
            if let fast = answer as? any FastJSON { return fast.json(ok: true) }
            return (try? JSONEncoder().encode(OK(answer))) ?? Self.error("internal: could not encode the answer")
        } catch {
            return Self.error(error.message)
        }
    }

    /// The operation a request body asks for, and the token it presents.
    fileprivate static func request(_ body: Data) throws(OperationError) -> (Operation, token: String?) {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw OperationError(.badRequest, "request: must be a JSON object {\"op\": ..., ...}")
        }
        guard let op = object["op"] as? String else { throw OperationError(.badRequest, "op: is required") }
        let token = object["token"] as? String
        var fields: [String: String] = [:]
        for (key, value) in object where key != "op" && key != "token" {
            switch value {
            case let text as String: fields[key] = text
            case let number as NSNumber: fields[key] = number.stringValue
            default: continue
            }
        }
        if op == "contest.create" {
            guard let definition = object["contest"], JSONSerialization.isValidJSONObject(definition),
                let data = try? JSONSerialization.data(withJSONObject: definition)
            else { throw OperationError(.badRequest, "contest: must be the contest's definition as a JSON object") }
            return (.contestCreate(org: fields["org"] ?? Org.default, definition: data), token)
        }
        if op == "quota.put" {
            // The list as it came, for `Quota.batch` to check entry by entry.
            var body: [String: Any] = [:]
            body["quotas"] = object["quotas"]
            guard let data = try? JSONSerialization.data(withJSONObject: body) else {
                throw OperationError(.badRequest, "quotas: must be a list of 1 to \(Quota.maxPerPut) quotas")
            }
            return (.quotaPut(org: fields["org"] ?? Org.default, body: data), token)
        }
        if op == "event.amend" {
            guard let changes = object["changes"] as? [String: Any] else {
                throw OperationError(.badRequest, "changes: must be a JSON object {\"value\"?, \"kind\"?, \"rep\"?, \"team\"?}")
            }
            for key in ["value", "kind", "rep", "team"] { fields[key] = nil }
            fields.merge(try EventChanges.fields(changes)) { $1 }
        }
        return (try Operation.parse(op: op, fields), token)
    }

    fileprivate static func error(_ message: String) -> Data {
        struct Failure: Encodable {
            let ok = false
            let error: String
        }
        return (try? JSONEncoder().encode(Failure(error: message))) ?? Data()
    }
    /// An answer with `"ok": true` added to its fields.
    private struct OK: Encodable {
        let answer: any Encodable
        init(_ answer: any Encodable) { self.answer = answer }

        enum Key: String, CodingKey { case ok }

        func encode(to encoder: any Encoder) throws {
            try answer.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(true, forKey: .ok)
        }
    }
}

/// What the socket's thread answers itself: bad requests at once, a read whose kept answer is
/// known to be current (no token to look up, its org's version unmoved) at once from memory,
/// and a batch's other board reads
/// (with their tokens' look-ups) as one pipeline, answered when Redis's replies arrive. The
/// thread does not wait for them: it polls the Redis connection beside the socket and goes on
/// reading requests and sending answers meanwhile, so several pipelines are in flight and a
/// read no longer holds the transport for its round trip. `@unchecked Sendable` is safe: only
/// the socket's one thread calls it (`InlineAnswers`).
///
/// Bounded: at most `maxInFlight` calls in flight; past that the socket reads no more until
/// replies come back. For a second after Redis failed, reads are answered `unavailable` at
/// once instead of trying again each batch.
private final class InlineReads: InlineAnswers, @unchecked Sendable {
    private let operations: Operations
    private let redis: RedisPipelineInFlight<Batch>
    private var downUntil: ContinuousClock.Instant?
    private static let retryAfter: Duration = .seconds(1)
    private static let maxInFlight = 4_096

    /// A read to answer when its batch's replies are in; `lookup`, when its token must be
    /// looked up first (in the same pipeline); `read` nil when the token is of another org
    /// (then no board is read).
    private struct Pending {
        let envelope: [Data]
        let operation: Operation
        let read: Operations.CachedRead?
        let lookup: TokenStore.Lookup?
    }

    /// A batch's reads, as sent: the look-ups first, then the reads.
    private struct Batch {
        let pending: [Pending]
        let start: ContinuousClock.Instant
        let lookups: Int
    }

    init(operations: Operations) {
        self.operations = operations
        var configuration = operations.reader.redis.configuration
        configuration.connectTimeout = min(configuration.connectTimeout, .milliseconds(250))
        configuration.commandTimeout = min(configuration.commandTimeout, .seconds(1))
        self.redis = RedisPipelineInFlight(configuration)
    }

    var fileDescriptors: [Int32] { redis.fileDescriptors }
    var timeout: Duration? { redis.timeout }
    var takesMore: Bool { redis.inFlight < Self.maxInFlight }

    func answer(_ batch: [[Data]]) -> [InlineAnswer] {
        let start = ContinuousClock.now
        var answers = [InlineAnswer](repeating: .pass, count: batch.count)
        var pending: [Pending] = []
        for (index, frames) in batch.enumerated() {
            guard frames.count >= 2 else { continue }  // not a request: `run` drops it
            let operation: Operation
            let token: String?
            do {
                (operation, token) = try ZMQTransport.request(frames.last!)
            } catch {
                answers[index] = .reply(frames.dropLast() + [ZMQTransport.error(error.message)])
                continue
            }
            guard operation.boardRead != nil else { continue }  // `run` answers the rest
            guard Org.isValid(operation.org) else {
                operations.record(operation.name, transport: "zmq", outcome: "\(Operations.invalidOrg.kind.httpStatus)", since: start)
                answers[index] = .reply(frames.dropLast() + [ZMQTransport.error(Operations.invalidOrg.message)])
                continue
            }
            // Access first: a refused caller learns nothing of the org's boards.
            let access = operations.precheck(operation, token: token)
            if case .refused(let error) = access {
                operations.record(operation.name, transport: "zmq", outcome: "\(error.kind.httpStatus)", since: start)
                answers[index] = .reply(frames.dropLast() + [ZMQTransport.error(error.message)])
                continue
            }
            let lookup: TokenStore.Lookup? = if case .lookUp(let lookup) = access { lookup } else { nil }
            do {
                guard let read = try operations.scriptRead(operation) else { continue }
                // A token of another org is refused whatever it is: no board is read for it.
                let sameOrg = lookup.map { $0.org == operation.org } ?? true
                let cached = sameOrg ? operations.cachedRead(read) : nil
                // A kept answer whose org has not moved, and no token to look up: no Redis at all.
                if lookup == nil, let cached, let kept = operations.current(cached) {
                    operations.record(operation.name, transport: "zmq", outcome: "ok", since: start)
                    answers[index] = .reply(frames.dropLast() + [kept.zmq])
                    continue
                }
                pending.append(Pending(envelope: Array(frames.dropLast()), operation: operation, read: cached, lookup: lookup))
                answers[index] = .later
            } catch {
                // A bad board or period; with a token still to look up, `run` tells which comes first.
                guard lookup == nil else { continue }
                operations.record(operation.name, transport: "zmq", outcome: "\(error.kind.httpStatus)", since: start)
                answers[index] = .reply(frames.dropLast() + [ZMQTransport.error(error.message)])
            }
        }
        guard !pending.isEmpty else { return answers }
        let lookups = pending.compactMap(\.lookup)
        let reads = pending.compactMap(\.read)
        let batch = Batch(pending: pending, start: start, lookups: lookups.count)
        if let downUntil, ContinuousClock.now < downUntil {
            let down = replies(batch, .failure(RedisError(.connection, "unavailable (retrying within \(Self.retryAfter))")))
            for (index, reply) in zip(answers.indices.filter { if case .later = answers[$0] { true } else { false } }, down) {
                answers[index] = .reply(reply)
            }
        } else {
            redis.send(BoardReader.calls(reads.map(\.call), after: lookups.map(\.command)), tag: batch)
        }
        return answers
    }

    func collect(readable: [Int32]) -> [[Data]] {
        var out: [[Data]] = []
        for (batch, result) in redis.collect(readable: readable) {
            switch result {
            case .success: downUntil = nil
            case .failure:
                if downUntil == nil || ContinuousClock.now >= downUntil! { downUntil = .now + Self.retryAfter }
            }
            out += replies(batch, result)
        }
        return out
    }

    /// Each read's answer, from its batch's replies (the look-ups', then the reads').
    private func replies(_ batch: Batch, _ result: Result<[RedisReply], RedisError>) -> [[Data]] {
        let answers: [Result<Data, OperationError>]
        switch result {
        case .failure(let error):
            answers = batch.pending.map { _ in .failure(OperationError(.unavailable, "\(error)")) }
        case .success(let replies):
            var nextLookup = replies.prefix(batch.lookups).makeIterator()
            var nextResult = replies.dropFirst(batch.lookups).makeIterator()
            answers = batch.pending.map { item in
                Result { () throws(OperationError) -> Data in
                    let lookup = item.lookup.map { ($0, nextLookup.next()!) }
                    let result = item.read.map { ($0, nextResult.next()!) }
                    if let (lookup, reply) = lookup {
                        do {
                            try operations.decide(item.operation, caller: try lookup.caller(reply))
                        } catch let error as OperationError {
                            throw error
                        } catch {
                            throw OperationError(.unavailable, "\(error)")
                        }
                    }
                    // No read only for a token of another org, which `decide` has refused.
                    guard let (read, reply) = result else { throw OperationError(.forbidden, "token: not allowed") }
                    return try operations.finish(read, reply: reply).zmq
                }
            }
        }
        return zip(batch.pending, answers).map { item, answer in
            let (body, outcome) = switch answer {
            case .success(let json): (json, "ok")
            case .failure(let error): (ZMQTransport.error(error.message), "\(error.kind.httpStatus)")
            }
            operations.record(item.operation.name, transport: "zmq", outcome: outcome, since: batch.start)
            return item.envelope + [body]
        }
    }
}
