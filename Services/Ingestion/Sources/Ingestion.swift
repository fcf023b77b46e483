import Logging
import Redis
import ServiceLifecycle
import TallyService
import ZeroMQ

/// tally-ingestion as a service: binds both sockets at once (so a bad endpoint fails start-up),
/// then runs the broker on a thread of its own.
package struct IngestionService: Service {
    private let broker: SendableBroker
    /// With a front-door key: the registered keys, and the client that reads them.
    private let fieldKeys: (keys: FieldKeys, redis: RedisClient)?
    private let zap: ZAPHandler?
    package let frontendEndpoint: String
    package let backendEndpoint: String

    package init(configuration: IngestionConfiguration, logger: Logger) throws {
        try configuration.validate()
        if configuration.curveKey != nil {
            let redis = RedisClient(configuration.redis)
            fieldKeys = (FieldKeys(redis: redis, logger: logger), redis)
        } else {
            fieldKeys = nil
        }
        // Bound before either CURVE socket, so no handshake goes unchecked.
        if configuration.curveKey != nil || configuration.serviceKey != nil {
            let (keys, serviceKey) = (fieldKeys?.keys, configuration.serviceKey)
            zap = try ZAPHandler { request in
                switch request.domain {
                case ZAPDomain.field: keys.map { $0.decide(request) } ?? .deny(reason: "no field keys")
                case ZAPDomain.service: serviceKey?.decide(request) ?? .deny(reason: "no service key")
                default: .deny(reason: "unknown domain")
                }
            }
        } else {
            zap = nil
        }
        let broker = try Broker(configuration: configuration, fieldKeys: fieldKeys?.keys, logger: logger)
        frontendEndpoint = broker.frontendEndpoint
        backendEndpoint = broker.backendEndpoint
        self.broker = SendableBroker(broker)
        logger.info("listening", metadata: [
            "field-apps": "\(frontendEndpoint)", "workers": "\(backendEndpoint)",
            "front-door": "\(configuration.curveKey.map { "CURVE, public key \($0.publicKey)" } ?? "plain text")",
        ])
        if configuration.curveKey == nil, !isLoopback(configuration.frontend) {
            logger.warning("the front door is plain text beyond this machine: anyone who reaches it may send events for any org; give --curve-secret-key")
        }
    }

    package func run() async throws {
        defer { zap?.stop() }
        let broker = self.broker
        let thread = ThreadService(name: "ingestion") { stop in
            try broker.value.run(until: stop)
        }
        guard let fieldKeys else { return try await thread.run() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await fieldKeys.redis.run() }
            group.addTask { await fieldKeys.keys.follow() }
            try await thread.run()
            group.cancelAll()
        }
    }
}

/// `@unchecked Sendable`: the broker is built on the caller's thread and from then on used
/// only by the one thread `run` starts (thread start is a full memory barrier).
private struct SendableBroker: @unchecked Sendable {
    let value: Broker
    init(_ value: Broker) { self.value = value }
}
