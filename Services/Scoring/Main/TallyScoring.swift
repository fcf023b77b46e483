import ArgumentParser
import Logging
import Redis
import Scoring
import TallyService

@main
struct TallyScoring: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-scoring",
        abstract: "A scoring worker: applies batches of activity events to the boards in Redis. Run several for more throughput.",
        discussion: "Every option can also be set as TALLY_<OPTION>, e.g. TALLY_REDIS_URL=redis://127.0.0.1:6379.")
    /// Where every default comes from.
    private static let defaults = ScoringConfiguration()

    @Option(help: "tally-ingestion's worker endpoint.")
    var ingestion = Environment.string("ingestion", default: defaults.ingestion)

    @Option(help: "Comma-separated endpoints to publish change notices to (tally-notification).")
    var notify = Environment.string("notify", default: defaults.notify.joined(separator: ","))

    @Option(help: "redis://[:password@]host:port[/db]")
    var redisUrl = Environment.string("redis-url", default: defaults.redis.url)

    @Option(name: .customLong("rules"), help: "Directory of per-org rules files (<org>.json or <org>.yaml); default rules otherwise.") var rulesOption: String?
    var rules: String? { rulesOption ?? Environment.value("rules") }

    @Option(help: "Milliseconds between heartbeats with ingestion.")
    var heartbeatMs = Environment.int("heartbeat-ms", default: Int(defaults.heartbeatInterval.milliseconds))

    @Option(help: "Heartbeats ingestion may miss before the worker reconnects.")
    var heartbeatLiveness = Environment.int("heartbeat-liveness", default: defaults.heartbeatLiveness)

    @Option(help: "Milliseconds a batch waits for a Redis replica to have it (where the master has replicas) before its events are answered 'unavailable'.")
    var replicaWaitMs = Environment.int("replica-wait-ms", default: Int(defaults.replicaWait.milliseconds))

    @Option(name: .customLong("service-secret-key"), help: ArgumentHelp(ServiceKey.optionHelp))
    var serviceSecretKey: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = Environment.string("log-level", default: "info")

    func validate() throws {
        try Environment.validate()
        _ = try Check.logLevel(logLevel)
        try settings().validate()
    }

    func run() async throws {
        try bootstrapLogging(level: logLevel)
        let logger = Logger(label: "tally.scoring")
        let service = try ScoringService(configuration: settings(), logger: logger)
        try await runServices([service], logger: logger)
    }

    /// The configuration the options describe.
    private func settings() throws(ConfigurationError) -> ScoringConfiguration {
        var configuration = Self.defaults
        configuration.ingestion = ingestion
        configuration.notify = Environment.list(notify)
        configuration.redis = try Check.redisURL(redisUrl)
        configuration.serviceKey = try Check.serviceKey(serviceSecretKey)
        configuration.rulesDirectory = rules
        configuration.heartbeatInterval = .milliseconds(heartbeatMs)
        configuration.heartbeatLiveness = heartbeatLiveness
        configuration.replicaWait = .milliseconds(replicaWaitMs)
        return configuration
    }
}
