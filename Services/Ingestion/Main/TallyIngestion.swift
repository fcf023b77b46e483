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

    @Option(help: "ZeroMQ endpoint field apps connect to.")
    var frontend = Environment.string("frontend", default: "tcp://*:5555")

    @Option(help: "ZeroMQ endpoint scoring workers connect to.")
    var backend = Environment.string("backend", default: "tcp://*:5556")

    @Option(help: "Milliseconds a request may wait for a worker before it is answered 'unavailable'.")
    var unavailableAfterMs = Environment.int("unavailable-after-ms", default: 2_000)

    @Option(help: "The most events in one job for a worker.")
    var maxBatchEvents = Environment.int("max-batch-events", default: 1_000)

    @Option(help: "Milliseconds between heartbeats with workers.")
    var heartbeatMs = Environment.int("heartbeat-ms", default: 1_000)

    @Option(help: "Heartbeats a worker may miss before its work goes to another.")
    var heartbeatLiveness = Environment.int("heartbeat-liveness", default: 3)

    @Option(help: "Largest message accepted, in bytes.")
    var maxMessageSize = Environment.int("max-message-size", default: 1 << 20)

    @Option(help: "Seconds shutdown waits for work in flight.")
    var shutdownGraceSeconds = Environment.int("shutdown-grace-seconds", default: 10)

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = Environment.string("log-level", default: "info")

    func run() async throws {
        try bootstrapLogging(level: logLevel)
        let logger = Logger(label: "tally.ingestion")
        var configuration = IngestionConfiguration()
        configuration.frontend = frontend
        configuration.backend = backend
        configuration.unavailableAfter = .milliseconds(unavailableAfterMs)
        configuration.maxBatchEvents = maxBatchEvents
        configuration.heartbeatInterval = .milliseconds(heartbeatMs)
        configuration.heartbeatLiveness = heartbeatLiveness
        configuration.maxMessageSize = Int64(maxMessageSize)
        configuration.shutdownGrace = .seconds(shutdownGraceSeconds)
        let service = try IngestionService(configuration: configuration, logger: logger)
        try await runServices([service], logger: logger)
    }
}
