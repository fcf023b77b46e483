import Foundation
import Hummingbird
import HummingbirdWebSocket
import TallyStore
import Logging
import ServiceLifecycle
import TallyDomain

/// tally-notification over HTTP: the TV page, the WebSocket stream, `/healthz`, `/metrics`.
enum HTTPRoutes {
    static func router(
        hub: Hub, source: BoardSource, access: StreamAccess, metrics: NotificationMetrics, displayQueue: Int, maxStreamBoards: Int,
        logger: Logger
    ) -> Router<BasicWebSocketRequestContext> {
        let router = Router(context: BasicWebSocketRequestContext.self)

        // The page holds no data: its stream checks the token it is given (`?token=`). Its
        // address may carry that token, so the page sends no referrer anywhere.
        router.get("tv") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache", .init("Referrer-Policy")!: "no-referrer"],
                body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.tv_html)))
        }

        // GET /v1/stream?org=&board=&board=&token=: snapshots, then updates and the org's _events.
        // Without a token it may read (`StreamAccess`), the stream is closed with 4401 or 4403
        // and the reason, which a browser can read (a refused upgrade it could not).
        // A board that does not exist is answered on the stream (`{"type": "error"}`), so a
        // TV page can show what is wrong; a request without an org or boards is refused. A
        // stream over a cap is closed with a code and a reason a browser can read: 1008 for
        // more boards than a stream may have, 1013 (try again later) when the server is full.
        router.ws("v1/stream") { request, _ in
            _ = try subscription(request, max: maxStreamBoards)
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            guard let (org, requested) = try? subscription(context.request, max: maxStreamBoards) else { return }
            let held: TokenStore.Lookup?
            // `Authorization: Bearer` where the client can set it, `?token=` where it can't (a browser).
            let bearer = context.request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            switch await access.admit(bearer ?? context.request.uri.queryParameters["token"].map(String.init), org: org) {
            case .admitted(let token): held = token
            case .refused(let code, let reason):
                try? await outbound.close(.unknown(code), reason: reason)
                return
            }
            guard requested.count <= maxStreamBoards else {
                metrics.refused(.streamBoards)
                try? await outbound.close(.policyViolation, reason: "board: at most \(maxStreamBoards) per stream")
                return
            }
            var boards: [(name: String, exists: Bool)] = []
            var errors: [String] = []
            for board in requested {
                var exists = true
                do {
                    exists = try await source.exists(org: org, board: board)
                } catch let error as StoreError where error.code == .notFound || error.code == .invalid {
                    let json = try? JSONSerialization.data(withJSONObject: ["type": "error", "org": org, "board": board, "error": error.message])
                    errors.append(String(decoding: json ?? Data(), as: UTF8.self))
                    continue
                } catch {
                    // Redis is away: keep the board; its snapshot comes once reads work again.
                    context.logger.warning("board check failed", metadata: ["board": "\(board)", "error": "\(error)"])
                }
                boards.append((board, exists))
            }
            let display: Display
            switch await hub.connect(org: org, boards: boards, token: held, capacity: displayQueue) {
            case .success(let connected): display = connected
            case .failure(let refused):
                try? await outbound.close(.unknown(1013), reason: refused.reason)
                return
            }
            for error in errors { display.offer(error) }
            if let contests = try? await source.currentContests(org: org) {
                for contest in contests {
                    if let data = try? JSONEncoder().encode(contest) { display.offer(String(decoding: data, as: UTF8.self)) }
                }
            }
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    // The writer: as fast as this display reads, never holding up anyone else.
                    while let work = await display.next() {
                        do {
                            switch work {
                            case .send(let messages):
                                for message in messages { try await outbound.writeTextMessage(message) }
                            case .resnapshot:
                                for snapshot in await hub.snapshots(for: display) { try await outbound.writeTextMessage(snapshot) }
                            case .end(let code, let reason):
                                try await outbound.close(.unknown(code), reason: reason)
                                return
                            }
                        } catch {
                            context.logger.debug("display writer stopped", metadata: ["error": "\(error)"])
                            return
                        }
                    }
                }
                // The reader: resync requests, at most one per board a second. On shutdown the
                // stream closes, and displays reconnect to whichever tally-notification comes up next.
                var lastResync: [String: ContinuousClock.Instant] = [:]
                do {
                    for try await message in inbound.messages(maxSize: 16 * 1024).cancelOnGracefulShutdown() {
                        guard case .text(let text) = message else { continue }
                        await handle(text, from: display, hub: hub, lastResync: &lastResync)
                    }
                } catch {
                    context.logger.debug("display connection ended", metadata: ["error": "\(error)"])
                }
                // The writer may be waiting on a socket that is closing: stop it too.
                context.logger.trace("display reader ended", metadata: ["display": "\(display.id)"])
                display.close()
                group.cancelAll()
            }
            await hub.disconnect(display)
            context.logger.trace("display disconnected", metadata: ["display": "\(display.id)"])
        }

        router.get("healthz") { _, _ in
            json(["status": "ok"], status: .ok)
        }
        router.get("metrics") { _, _ in
            var buffer = [UInt8]()
            metrics.registry.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        return router
    }

    /// The org and boards a stream request asks for (no more than `max` + 1, so a stream over
    /// the cap is told so), or a 400 naming the parameter.
    static func subscription(_ request: Request, max: Int) throws -> (org: String, boards: [String]) {
        let parameters = request.uri.queryParameters
        let org = parameters["org"].map(String.init) ?? "default"
        guard Org.isValid(org) else {
            throw HTTPError(.badRequest, message: "org: must be 1 to 64 characters of a-z, 0-9 and -")
        }
        var boards: [String] = []
        var seen: Set<String> = []
        for board in parameters.getAll("board") where boards.count <= max && seen.insert(String(board)).inserted {
            boards.append(String(board))
        }
        guard !boards.isEmpty else {
            throw HTTPError(.badRequest, message: "board: at least one is required, e.g. ?board=points:today:reps")
        }
        return (org, boards)
    }

    /// `{"type": "resync", "board": ...}` from a display that saw a gap. A second resync of a
    /// board within a second is ignored: the snapshot for the first is on its way.
    private static func handle(
        _ text: String, from display: Display, hub: Hub, lastResync: inout [String: ContinuousClock.Instant]
    ) async {
        struct Request: Decodable {
            var type: String
            var board: String?
        }
        guard let request = try? JSONDecoder().decode(Request.self, from: Data(text.utf8)) else {
            display.offer(#"{"type":"error","error":"message: must be JSON like {\"type\":\"resync\",\"board\":\"points:today:reps\"}"}"#)
            return
        }
        guard request.type == "resync" else {
            display.offer(#"{"type":"error","error":"type: the only request is \"resync\""}"#)
            return
        }
        guard let board = request.board, display.boards.contains(board) else {
            display.offer(#"{"type":"error","error":"board: resync needs one of the boards this stream watches"}"#)
            return
        }
        let now = ContinuousClock.now
        if let last = lastResync[board], now - last < .seconds(1) { return }
        lastResync[board] = now
        await hub.resync(display, board: board)
    }

    static func json(_ value: [String: String], status: HTTPResponse.Status) -> Response {
        let data = (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
