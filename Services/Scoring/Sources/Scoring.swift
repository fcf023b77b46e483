import Logging
import ServiceLifecycle
import TallyDomain
import TallyService

/// tally-scoring as a service: loads the rules (a wrong file stops start-up), then runs the
/// worker loop on a thread of its own.
package struct ScoringService: Service {
    private let worker: SendableWorker

    package init(configuration: ScoringConfiguration, logger: Logger) throws {
        let rules = try RulesBook.load(directory: configuration.rulesDirectory)
        worker = SendableWorker(try ScoringWorker(configuration: configuration, rules: rules, logger: logger))
        logger.info("starting", metadata: [
            "ingestion": "\(configuration.ingestion)", "notify": "\(configuration.notify)",
            "redis": "\(configuration.redis.redactedURL)",
        ])
    }

    package func run() async throws {
        let worker = self.worker
        try await ThreadService(name: "scoring") { stop in
            try worker.value.run(until: stop)
        }.run()
    }
}

/// `@unchecked Sendable`: the worker is built on the caller's thread and from then on used only
/// by the one thread `run` starts (thread start is a full memory barrier).
private struct SendableWorker: @unchecked Sendable {
    let value: ScoringWorker
    init(_ value: ScoringWorker) { self.value = value }
}
