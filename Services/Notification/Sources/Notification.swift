import Hummingbird
import HummingbirdWebSocket
import TallyStore
import Logging
import Redis
import ServiceLifecycle
import TallyDomain

/// tally-notification's settings; every one has a default.
package struct NotificationConfiguration: Sendable {
    /// Where scoring and leaderboard publish change notices (SUB, bound).
    package var changesEndpoint = "tcp://*:5557"
    /// Where ZeroMQ displays subscribe (XPUB, bound).
    package var displaysEndpoint = "tcp://*:5560"
    package var httpHost = "0.0.0.0"
    package var httpPort = 8090
    package var redis = RedisConfiguration()
    /// A directory of `<org>.json|yaml` rules files; nil: the defaults.
    package var rulesDirectory: String?
    /// How many entries of a board displays get.
    package var top = 25
    /// The shortest time between two updates of one board, and the longest an update waits.
    package var interval: Duration = .milliseconds(250)
    /// How often every watched board is read again whatever the notices say.
    package var sweepInterval: Duration = .seconds(5)
    /// Messages a WebSocket display may have waiting before it is sent snapshots instead.
    package var displayQueue = 256
    /// The largest message accepted on a ZeroMQ socket.
    package var maxMessageSize: Int64 = 1 << 20

    package init() {}
}

/// Builds tally-notification: the change feed, the hub, the XPUB bus and the HTTP/WebSocket
/// application that runs them all as its services.
package func buildNotification(configuration: NotificationConfiguration, logger: Logger) throws -> some ApplicationProtocol {
    let rules = try RulesBook.load(directory: configuration.rulesDirectory)
    let redis = RedisClient(configuration.redis, label: "notification", connections: 2)
    let source = BoardSource(reader: BoardReader(redis: redis, rules: rules), size: configuration.top)
    let metrics = NotificationMetrics()
    let publisher = try DisplayBus.bind(configuration.displaysEndpoint, maxMessageSize: configuration.maxMessageSize, logger: logger)
    let hub = Hub(source: source, publisher: publisher, interval: configuration.interval, metrics: metrics, logger: logger)
    let feed = try ChangeFeed(
        endpoint: configuration.changesEndpoint, maxMessageSize: configuration.maxMessageSize, hub: hub, metrics: metrics,
        logger: logger)
    let bus = DisplayBus(socket: publisher, hub: hub, logger: logger)
    logger.info("listening", metadata: [
        "changes": "\(feed.endpoint)", "displays": "\(bus.endpoint)",
        "http": "\(configuration.httpHost):\(configuration.httpPort)", "redis": "\(configuration.redis.redactedURL)",
    ])
    let router = HTTPRoutes.router(
        hub: hub, source: source, metrics: metrics, displayQueue: configuration.displayQueue, logger: logger)
    return Application(
        router: router,
        server: .http1WebSocketUpgrade(webSocketRouter: router),
        configuration: .init(
            address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "tally-notification"),
        // Started in this order, stopped in the reverse: Redis and the hub outlive what feeds them.
        services: [redis, hub, feed, bus, Sweeper(hub: hub, interval: configuration.sweepInterval)],
        logger: logger)
}

/// Re-reads every watched board now and then (see `Hub.sweep`).
struct Sweeper: Service {
    let hub: Hub
    let interval: Duration

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await hub.sweep()
        }
    }
}
