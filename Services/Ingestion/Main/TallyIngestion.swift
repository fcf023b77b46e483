import ArgumentParser
import Ingestion
import Logging
import TallyService

@main
struct TallyIngestion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-ingestion",
        abstract: "The front door for field apps: takes activity events over ZeroMQ and hands them to scoring workers.",
        discussion: "Every option can also be set as TALLY_<OPTION>, e.g. TALLY_FRONTEND=tcp://*:5555.")
    /// Where every default comes from.
    private static let defaults = IngestionConfiguration()

    @Option(help: "ZeroMQ endpoint field apps connect to.")
    var frontend = Environment.string("frontend", default: defaults.frontend)

    @Option(help: "ZeroMQ endpoint scoring workers connect to.")
    var backend = Environment.string("backend", default: defaults.backend)

    @Option(help: "Milliseconds a request may wait for a worker before it is answered 'unavailable'.")
    var unavailableAfterMs = Environment.int("unavailable-after-ms", default: Int(defaults.unavailableAfter.milliseconds))

    @Option(help: "The most events in one job for a worker.")
    var maxBatchEvents = Environment.int("max-batch-events", default: defaults.maxBatchEvents)

    @Option(help: "Milliseconds between heartbeats with workers.")
    var heartbeatMs = Environment.int("heartbeat-ms", default: Int(defaults.heartbeatInterval.milliseconds))

    @Option(help: "Heartbeats a worker may miss before its work goes to another.")
    var heartbeatLiveness = Environment.int("heartbeat-liveness", default: defaults.heartbeatLiveness)

    @Option(help: "Largest message accepted, in bytes.")
    var maxMessageSize = Environment.int("max-message-size", default: Int(defaults.maxMessageSize))

    @Option(help: "Seconds shutdown waits for work in flight.")
    var shutdownGraceSeconds = Environment.int("shutdown-grace-seconds", default: Int(defaults.shutdownGrace.components.seconds))

    @Option(help: "Most bytes of events in one job for a worker (scoring's --max-message-size must be larger).")
    var maxJobBytes = Environment.int("max-job-bytes", default: defaults.maxJobBytes)

    @Option(help: "Most requests one client may have in flight; more are answered 'unavailable'.")
    var clientRequests = Environment.int("client-requests", default: defaults.maxClientRequests)

    @Option(help: "Most bytes of requests one client may have in flight; more are answered 'unavailable'.")
    var clientBytes = Environment.int("client-bytes", default: defaults.maxClientBytes)

    @Option(help: "Most bytes of requests all clients together may have in flight.")
    var queueBytes = Environment.int("queue-bytes", default: defaults.maxQueuedBytes)

    @Option(help: "Milliseconds a worker may hold a job before it goes to another.")
    var jobTimeoutMs = Environment.int("job-timeout-ms", default: Int(defaults.jobTimeout.milliseconds))

    @Option(name: .customLong("curve-secret-key"), help: "The front door's CURVE secret key (Z85; `tally keys` makes a pair): only field apps whose public key is registered get in. Unset: plain text. Better as TALLY_CURVE_SECRET_KEY, off the command line.")
    var curveSecretKeyOption: String?
    var curveSecretKey: String? { curveSecretKeyOption ?? Environment.value("curve-secret-key") }

    @Option(help: "Where the registered field keys are (with --curve-secret-key): redis://[:password@]host:port[/db]")
    var redisUrl = Environment.string("redis-url", default: defaults.redis.url)

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
        let logger = Logger(label: "tally.ingestion")
        let service = try IngestionService(configuration: settings(), logger: logger)
        try await runServices([service], logger: logger)
    }

    /// The configuration the options describe.
    private func settings() throws(ConfigurationError) -> IngestionConfiguration {
        var configuration = Self.defaults
        configuration.curveKey = try Check.secretKey(curveSecretKey, "curve-secret-key")
        configuration.serviceKey = try Check.serviceKey(serviceSecretKey)
        configuration.redis = try Check.redisURL(redisUrl)
        configuration.frontend = frontend
        configuration.backend = backend
        configuration.unavailableAfter = .milliseconds(unavailableAfterMs)
        configuration.maxBatchEvents = maxBatchEvents
        configuration.heartbeatInterval = .milliseconds(heartbeatMs)
        configuration.heartbeatLiveness = heartbeatLiveness
        configuration.maxMessageSize = Int64(maxMessageSize)
        configuration.shutdownGrace = .seconds(shutdownGraceSeconds)
        configuration.maxJobBytes = maxJobBytes
        configuration.maxClientRequests = clientRequests
        configuration.maxClientBytes = clientBytes
        configuration.maxQueuedBytes = queueBytes
        configuration.jobTimeout = .milliseconds(jobTimeoutMs)
        return configuration
    }
}
