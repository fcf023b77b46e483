import Logging
import ServiceLifecycle
import TallyService

/// tally-ingestion as a service: binds both sockets at once (so a bad endpoint fails start-up),
/// then runs the broker on a thread of its own.
package struct IngestionService: Service {
    private let broker: SendableBroker
    package let frontendEndpoint: String
    package let backendEndpoint: String

    package init(configuration: IngestionConfiguration, logger: Logger) throws {
        try configuration.validate()
        let broker = try Broker(configuration: configuration, logger: logger)
        frontendEndpoint = broker.frontendEndpoint
        backendEndpoint = broker.backendEndpoint
        self.broker = SendableBroker(broker)
        logger.info("listening", metadata: ["field-apps": "\(frontendEndpoint)", "workers": "\(backendEndpoint)"])
    }

    package func run() async throws {
        let broker = self.broker
        try await ThreadService(name: "ingestion") { stop in
            try broker.value.run(until: stop)
        }.run()
    }
}

/// `@unchecked Sendable`: the broker is built on the caller's thread and from then on used
/// only by the one thread `run` starts (thread start is a full memory barrier).
private struct SendableBroker: @unchecked Sendable {
    let value: Broker
    init(_ value: Broker) { self.value = value }
}
