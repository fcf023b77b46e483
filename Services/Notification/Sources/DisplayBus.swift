import Foundation
import Logging
import ServiceLifecycle
import ZeroMQ

/// The XPUB socket ZeroMQ displays subscribe to, with topics `<org>/<board>` and
/// `<org>/_events`. Every subscribe reaches the hub (verbose), so each new subscriber gets a
/// snapshot even when others already watch the topic; an unsubscribe arrives when the topic's
/// last subscriber leaves. A subscriber that reads too slowly loses messages at its high-water
/// mark, sees the gap in `seq` and subscribes again.
struct DisplayBus: Service {
    let socket: AsyncSocket
    let hub: Hub
    let logger: Logger

    /// The bound socket, which the hub publishes on and this service reads subscriptions from.
    static func bind(_ endpoint: String, maxMessageSize: Int64, logger: Logger) throws -> AsyncSocket {
        let xpub = try Socket(.xpub, options: [
            .xpubVerbose(true), .maxMessageSize(maxMessageSize), .sendHighWaterMark(10_000), .linger(milliseconds: 0),
        ])
        try xpub.bind(endpoint)
        return AsyncSocket(xpub, errors: { what, error in
            logger.warning("displays: \(what) failed", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
        })
    }

    var endpoint: String { socket.lastEndpoint }

    /// Runs the socket (the hub publishes on it meanwhile) and reads its subscriptions.
    func run() async throws {
        async let io: Void = socket.run()
        for await frames in socket.messages.cancelOnGracefulShutdown() {
            // A subscription message: 1 (subscribe) or 0 (unsubscribe), then the topic.
            guard frames.count == 1, let flag = frames[0].first, flag <= 1 else { continue }
            let topic = String(decoding: frames[0].dropFirst(), as: UTF8.self)
            if flag == 1 {
                await hub.subscribed(topic: topic)
            } else {
                await hub.unsubscribed(topic: topic)
            }
        }
        await socket.close()
        await io
    }
}
