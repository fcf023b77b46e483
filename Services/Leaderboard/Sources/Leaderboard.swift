import Hummingbird
import HummingbirdCore
import Logging
import Prometheus
import Redis
import TallyStore
import TallyDomain
import TallyHTTP

/// Builds tally-leaderboard: the operations over Redis, served by an HTTP application that
/// also runs the ZeroMQ transport as one of its services.
package func buildLeaderboard(
    configuration: LeaderboardConfiguration, logger: Logger
) throws -> some ApplicationProtocol {
    let rules = try RulesBook.load(directory: configuration.rulesDirectory)
    let metrics = PrometheusCollectorRegistry()
    let redis = RedisClient(configuration.redis, label: "leaderboard", connections: configuration.redisConnections)
    let publisher = try ContestScheduler.makePublisher(notify: configuration.notify, serviceKey: configuration.serviceKey, logger: logger)
    let operations = Operations(
        redis: redis, rules: rules, adminToken: configuration.adminToken, openReads: configuration.openReads, metrics: metrics,
        logger: logger, versionLease: configuration.versionLease, announce: { publisher.send($0) })
    let zmq = try ZMQTransport(
        endpoint: configuration.zmqEndpoint, maxMessageSize: configuration.maxMessageSize,
        concurrency: configuration.zmqConcurrency, operations: operations, logger: logger)
    let scheduler = ContestScheduler(book: operations.contests, publisher: publisher, logger: logger)
    logger.info("listening", metadata: [
        "zmq": "\(zmq.endpoint)", "http": "\(configuration.httpHost):\(configuration.httpPort)",
        "redis": "\(configuration.redis.redactedURL)", "reads": "\(configuration.openReads ? "open" : "need a token")",
    ])
    let refused = metrics.makeCounter(
        descriptor: .init(
            namespace: "tally", metricName: "refusals", unitName: "total", helpText: "HTTP connections refused at a cap, by the cap."),
        labels: [("reason", "connections")])
    let idle = metrics.makeCounter(descriptor: .init(
        namespace: "tally", metricName: "idle_connections_closed", unitName: "total",
        helpText: "HTTP connections closed after sending nothing for the idle timeout."))
    let connections = ConnectionCount(limit: configuration.maxConnections, refused: { refused.increment() }, idle: { idle.increment() })
    let idleTimeout = configuration.idleTimeout
    return Application(
        router: HTTPTransport.router(operations, metrics: metrics),
        server: HTTPServerBuilder { responder in
            LimitedChildChannel(HTTP1Channel(responder: responder), count: connections, idleTimeout: idleTimeout)
        },
        configuration: .init(address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "tally-leaderboard"),
        // Stopped in the reverse order of this list: Redis outlives everything that uses it.
        services: [redis] + (operations.versions.map { [$0] } ?? []) + [zmq, scheduler],
        logger: logger)
}
