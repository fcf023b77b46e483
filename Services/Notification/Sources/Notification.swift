import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import TallyStore
import Logging
import Redis
import ServiceLifecycle
import TallyDomain
import TallyHTTP
import TallyService

/// Builds tally-notification: the change feed, the hub, the XPUB bus and the HTTP/WebSocket
/// application that runs them all as its services.
package func buildNotification(configuration: NotificationConfiguration, logger: Logger) throws -> some ApplicationProtocol {
    let rules = try RulesBook.load(directory: configuration.rulesDirectory)
    let redis = RedisClient(configuration.redis, label: "notification", connections: 2)
    let source = BoardSource(reader: BoardReader(redis: redis, rules: rules), size: configuration.top)
    let metrics = NotificationMetrics()
    let publisher = try DisplayBus.bind(configuration.displaysEndpoint, maxMessageSize: configuration.maxMessageSize, logger: logger)
    let limits = Hub.Limits(
        maxBoards: configuration.maxBoards, maxDisplays: configuration.maxDisplays, maxOrgDisplays: configuration.maxOrgDisplays)
    let hub = Hub(
        source: source, publisher: publisher, interval: configuration.interval, limits: limits, metrics: metrics, logger: logger)
    // Bound before the changes socket, so no publisher's handshake goes unchecked.
    let zap = try configuration.serviceKey.map { try ZAPHandlerService($0.zapHandler()) }
    let feed = try ChangeFeed(
        endpoint: configuration.changesEndpoint, serviceKey: configuration.serviceKey, maxMessageSize: configuration.maxMessageSize, hub: hub, directory: RepDirectory(redis: redis),
        metrics: metrics, logger: logger)
    let bus = DisplayBus(socket: publisher, hub: hub, logger: logger)
    logger.info("listening", metadata: [
        "changes": "\(feed.endpoint)", "displays": "\(bus.endpoint)",
        "http": "\(configuration.httpHost):\(configuration.httpPort)", "redis": "\(configuration.redis.redactedURL)",
        "reads": "\(configuration.openReads ? "open" : "need a token")",
    ])
    let access = StreamAccess(redis: redis, adminToken: configuration.adminToken, openReads: configuration.openReads)
    let router = HTTPRoutes.router(
        hub: hub, source: source, access: access, metrics: metrics, displayQueue: configuration.displayQueue,
        maxStreamBoards: configuration.maxStreamBoards, logger: logger)
    let webSocketResponder = router.buildResponder()
    let connections = ConnectionCount(
        limit: configuration.maxConnections, refused: { metrics.refused(.connections) }, idle: { metrics.idleClosed.increment() })
    // A display that only listens still answers pings, so it is never idle; a gone one is.
    let webSocket = WebSocketServerConfiguration(autoPing: .enabled(timePeriod: configuration.idleTimeout / 2))
    let idleTimeout = configuration.idleTimeout
    return Application(
        router: router,
        server: HTTPServerBuilder { responder in
            LimitedChildChannel(
                HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: .init(ws: webSocket)),
                count: connections, idleTimeout: idleTimeout)
        },
        configuration: .init(
            address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "tally-notification"),
        // Stopped in the reverse order of this list: what feeds the hub stops first, then the hub
        // (its last updates still go out), then the displays' socket, then Redis.
        services: (zap.map { [$0] } ?? []) + [
            redis, bus, hub, feed, Sweeper(hub: hub, interval: configuration.sweepInterval),
            TokenWatch(hub: hub, redis: redis, interval: configuration.tokenCheckInterval, logger: logger),
        ],
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
