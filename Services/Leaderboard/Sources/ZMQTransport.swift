import Foundation
import Logging
import ServiceLifecycle
import ZeroMQ

/// The operations over ZeroMQ request/reply: a ROUTER that takes `{"op": ..., ...}` JSON
/// from REQ or DEALER clients and answers `{"ok": true, ...}` or `{"ok": false, "error": ...}`.
/// Requests are served concurrently; each reply goes back through its own envelope.
package struct ZMQTransport: Service {
    private let socket: AsyncSocket
    private let operations: Operations
    private let logger: Logger
    package var endpoint: String { socket.lastEndpoint }

    init(endpoint: String, maxMessageSize: Int64, operations: Operations, logger: Logger) throws {
        let router = try Socket(.router, options: [.maxMessageSize(maxMessageSize), .sendHighWaterMark(100_000)])
        try router.bind(endpoint)
        socket = AsyncSocket(router)
        self.operations = operations
        self.logger = logger
    }

    package func run() async throws {
        await withDiscardingTaskGroup { group in
            for await frames in socket.messages.cancelOnGracefulShutdown() {
                guard frames.count >= 2 else { continue }
                group.addTask {
                    let reply = await answer(frames.last!)
                    socket.send(Array(frames.dropLast()) + [reply])
                }
            }
        }
        await socket.close()
    }

    private func answer(_ body: Data) async -> Data {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            return Self.error("request: must be a JSON object {\"op\": ..., ...}")
        }
        guard let op = object["op"] as? String else { return Self.error("op: is required") }
        var fields: [String: String] = [:]
        for (key, value) in object where key != "op" && key != "token" {
            switch value {
            case let text as String: fields[key] = text
            case let number as NSNumber: fields[key] = number.stringValue
            default: continue
            }
        }
        do {
            let operation: Operation
            if op == "contest.create" {
                guard let definition = object["contest"], JSONSerialization.isValidJSONObject(definition),
                    let data = try? JSONSerialization.data(withJSONObject: definition)
                else { return Self.error("contest: must be the contest's definition as a JSON object") }
                operation = .contestCreate(org: fields["org"] ?? "default", definition: data)
            } else {
                operation = try Operation.parse(op: op, fields)
            }
            let answer = try await operations.run(operation, token: object["token"] as? String, transport: "zmq")
            if let fast = answer as? any FastJSON { return fast.json(ok: true) }
            return (try? JSONEncoder().encode(OK(answer))) ?? Self.error("internal: could not encode the answer")
        } catch {
            return Self.error(error.message)
        }
    }

    private static func error(_ message: String) -> Data {
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
