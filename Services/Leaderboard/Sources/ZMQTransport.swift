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
/// the socket's own thread: what arrived together is read from Redis in one pipelined round
/// trip on a connection of that thread's, and answered at once. Other operations are served
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
        let inline = InlineReads(operations: operations)
        socket = AsyncSocket(
            router, answerInline: { batch in inline.answer(batch) },
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

/// What the socket's thread answers itself: bad requests, and a batch's script reads in one
/// pipelined round trip. `@unchecked Sendable` is safe: the connection and `downUntil` are only
/// touched from `answer`, which only the socket's one thread calls.
///
/// The socket sends and reads nothing while this waits for Redis, so the wait is kept short:
/// tight timeouts, and for a second after Redis failed, reads are answered `unavailable` at once
/// instead of trying again each batch.
private final class InlineReads: @unchecked Sendable {
    private let operations: Operations
    private let redis: RedisConnection
    private var downUntil: ContinuousClock.Instant?
    private static let retryAfter: Duration = .seconds(1)

    init(operations: Operations) {
        self.operations = operations
        var configuration = operations.reader.redis.configuration
        configuration.connectTimeout = min(configuration.connectTimeout, .milliseconds(250))
        configuration.commandTimeout = min(configuration.commandTimeout, .seconds(1))
        self.redis = RedisConnection(configuration)
    }

    func answer(_ batch: [[Data]]) -> [[Data]?] {
        let start = ContinuousClock.now
        var replies = [[Data]?](repeating: nil, count: batch.count)
        /// A read to answer here; `lookup`, when its token must be looked up first (in the
        /// same round trip); `read` nil when the token is of another org (then no board is read).
        struct Pending {
            let index: Int
            let operation: Operation
            let read: Operations.CachedRead?
            let lookup: TokenStore.Lookup?
        }
        var pending: [Pending] = []
        for (index, frames) in batch.enumerated() {
            guard frames.count >= 2 else { continue }  // not a request: `run` drops it
            let operation: Operation
            let token: String?
            do {
                (operation, token) = try ZMQTransport.request(frames.last!)
            } catch {
                replies[index] = frames.dropLast() + [ZMQTransport.error(error.message)]
                continue
            }
            guard operation.boardRead != nil else { continue }  // `run` answers the rest
            guard Org.isValid(operation.org) else {
                operations.record(operation.name, transport: "zmq", outcome: "\(Operations.invalidOrg.kind.httpStatus)", since: start)
                replies[index] = frames.dropLast() + [ZMQTransport.error(Operations.invalidOrg.message)]
                continue
            }
            // Access first: a refused caller learns nothing of the org's boards.
            let access = operations.precheck(operation, token: token)
            if case .refused(let error) = access {
                operations.record(operation.name, transport: "zmq", outcome: "\(error.kind.httpStatus)", since: start)
                replies[index] = frames.dropLast() + [ZMQTransport.error(error.message)]
                continue
            }
            let lookup: TokenStore.Lookup? = if case .lookUp(let lookup) = access { lookup } else { nil }
            do {
                guard let read = try operations.scriptRead(operation) else { continue }
                // A token of another org is refused whatever it is: no board is read for it.
                let sameOrg = lookup.map { $0.org == operation.org } ?? true
                pending.append(Pending(index: index, operation: operation, read: sameOrg ? operations.cachedRead(read) : nil, lookup: lookup))
            } catch {
                // A bad board or period; with a token still to look up, `run` tells which comes first.
                guard lookup == nil else { continue }
                operations.record(operation.name, transport: "zmq", outcome: "\(error.kind.httpStatus)", since: start)
                replies[index] = frames.dropLast() + [ZMQTransport.error(error.message)]
            }
        }
        guard !pending.isEmpty else { return replies }
        let answers: [Result<Data, OperationError>]
        do {
            if let downUntil, ContinuousClock.now < downUntil {
                throw RedisError(.connection, "unavailable (retrying within \(Self.retryAfter))")
            }
            let lookups = pending.compactMap(\.lookup)
            let reads = pending.compactMap(\.read)
            let (lookedUp, results) = try BoardReader.replies(reads.map(\.call), after: lookups.map(\.command), on: redis)
            var nextLookup = lookedUp.makeIterator()
            var nextResult = results.makeIterator()
            answers = pending.map { item in
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
            downUntil = nil
        } catch {
            if downUntil == nil || ContinuousClock.now >= downUntil! { downUntil = .now + Self.retryAfter }
            answers = pending.map { _ in .failure(OperationError(.unavailable, "\(error)")) }
        }
        for (item, answer) in zip(pending, answers) {
            let (body, outcome) = switch answer {
            case .success(let json): (json, "ok")
            case .failure(let error): (ZMQTransport.error(error.message), "\(error.kind.httpStatus)")
            }
            operations.record(item.operation.name, transport: "zmq", outcome: outcome, since: start)
            replies[item.index] = batch[item.index].dropLast() + [body]
        }
        return replies
    }
}
