import ArgumentParser
import Logging
import Notification
import Redis
import TallyService

@main
struct TallyNotification: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-notification",
        abstract: "Live board updates for displays over ZeroMQ and WebSocket, and the TV page.",
        discussion: "Every option can also be set as TALLY_<OPTION>, e.g. TALLY_HTTP_PORT=8090.")

    @Option(help: "Where scoring and leaderboard publish changes (SUB, bound).")
    var changes = Environment.string("changes", default: "tcp://*:5557")

    @Option(help: "Where ZeroMQ displays subscribe (XPUB, bound).")
    var displays = Environment.string("displays", default: "tcp://*:5560")

    @Option(help: "HTTP address to listen on (TV page, WebSocket stream).")
    var httpHost = Environment.string("http-host", default: "0.0.0.0")

    @Option(help: "HTTP port.")
    var httpPort = Environment.int("http-port", default: 8090)

    @Option(help: "redis://[:password@]host:port[/db]")
    var redisUrl = Environment.string("redis-url", default: "redis://127.0.0.1:6379")

    @Option(name: .customLong("rules"), help: "Directory of per-org rules files (<org>.json or <org>.yaml); default rules otherwise.") var rulesOption: String?
    var rules: String? { rulesOption ?? Environment.value("rules") }

    @Option(help: "Entries per board sent to displays.")
    var top = Environment.int("top", default: 25)

    @Option(help: "Least time between two updates of a board, and the most an update waits (ms).")
    var intervalMs = Environment.int("interval-ms", default: 250)

    @Option(help: "Messages a WebSocket display may have waiting before it gets snapshots instead.")
    var displayQueue = Environment.int("display-queue", default: 256)

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = Environment.string("log-level", default: "info")

    func validate() throws {
        guard (1...1000).contains(top) else { throw ValidationError("--top: must be 1 to 1000") }
        guard (10...10_000).contains(intervalMs) else { throw ValidationError("--interval-ms: must be 10 to 10000") }
        guard displayQueue >= 1 else { throw ValidationError("--display-queue: must be at least 1") }
    }

    func run() async throws {
        try bootstrapLogging(level: logLevel)
        let logger = Logger(label: "tally.notification")
        var configuration = NotificationConfiguration()
        configuration.changesEndpoint = changes
        configuration.displaysEndpoint = displays
        configuration.httpHost = httpHost
        configuration.httpPort = httpPort
        configuration.redis = try RedisConfiguration(url: redisUrl)
        configuration.rulesDirectory = rules
        configuration.top = top
        configuration.interval = .milliseconds(intervalMs)
        configuration.displayQueue = displayQueue
        // Displays reconnect by themselves, and a browser may hold a connection open that never
        // sends a request (a preconnect): give connections a moment to close, then stop.
        let application = try buildNotification(configuration: configuration, logger: logger)
        try await runServices([application, ShutdownDeadline(seconds: 3, logger: logger)], logger: logger)
    }
}
