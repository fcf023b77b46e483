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
    /// Where every default comes from.
    private static let defaults = NotificationConfiguration()

    @Option(help: "Where scoring and leaderboard publish changes (SUB, bound).")
    var changes = Environment.string("changes", default: defaults.changesEndpoint)

    @Option(help: "Where ZeroMQ displays subscribe (XPUB, bound).")
    var displays = Environment.string("displays", default: defaults.displaysEndpoint)

    @Option(help: "HTTP address to listen on (TV page, WebSocket stream).")
    var httpHost = Environment.string("http-host", default: defaults.httpHost)

    @Option(help: "HTTP port.")
    var httpPort = Environment.int("http-port", default: defaults.httpPort)

    @Option(help: "redis://[:password@]host:port[/db]")
    var redisUrl = Environment.string("redis-url", default: defaults.redis.url)

    @Option(name: .customLong("rules"), help: "Directory of per-org rules files (<org>.json or <org>.yaml); default rules otherwise.") var rulesOption: String?
    var rules: String? { rulesOption ?? Environment.value("rules") }

    @Option(help: "Entries per board sent to displays.")
    var top = Environment.int("top", default: defaults.top)

    @Option(help: "Least time between two updates of a board, and the most an update waits (ms).")
    var intervalMs = Environment.int("interval-ms", default: Int(defaults.interval.milliseconds))

    @Option(help: "Messages a WebSocket display may have waiting before it gets snapshots instead.")
    var displayQueue = Environment.int("display-queue", default: defaults.displayQueue)

    @Option(help: "Boards read for displays at once (boards with no data yet do not count).")
    var maxBoards = Environment.int("max-boards", default: defaults.maxBoards)

    @Option(help: "WebSocket displays connected at once.")
    var maxDisplays = Environment.int("max-displays", default: defaults.maxDisplays)

    @Option(help: "WebSocket displays of one org connected at once.")
    var maxOrgDisplays = Environment.int("max-org-displays", default: defaults.maxOrgDisplays)

    @Option(help: "Boards one WebSocket stream may ask for.")
    var maxStreamBoards = Environment.int("max-stream-boards", default: defaults.maxStreamBoards)

    @Option(help: "HTTP connections open at once, WebSocket displays included; more are closed at once.")
    var maxConnections = Environment.int("max-connections", default: defaults.maxConnections)

    @Option(help: "A connection that sends nothing for this long is closed; WebSocket displays are pinged every half of it (ms).")
    var idleTimeoutMs = Environment.int("idle-timeout-ms", default: Int(defaults.idleTimeout.milliseconds))

    @Option(name: .customLong("service-secret-key"), help: ArgumentHelp(ServiceKey.optionHelp))
    var serviceSecretKey: String?

    @Option(name: .customLong("admin-token"), help: "The operator's token, which may open any org's streams.")
    var adminTokenOption: String?
    var adminToken: String? { adminTokenOption ?? Environment.value("admin-token") }

    @Flag(name: .customLong("open-reads"), help: "Anyone may open streams (TALLY_OPEN_READS=true); without it a stream needs a viewer or organizer token.")
    var openReadsFlag = false
    var openReads: Bool { openReadsFlag || Environment.bool("open-reads", default: false) }

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = Environment.string("log-level", default: "info")

    func validate() throws {
        _ = openReads  // reads TALLY_OPEN_READS, so that a value that is not true or false is refused below
        try Environment.validate()
        _ = try Check.logLevel(logLevel)
        try settings().validate()
    }

    func run() async throws {
        try bootstrapLogging(level: logLevel)
        let logger = Logger(label: "tally.notification")
        // Displays reconnect by themselves, and a browser may hold a connection open that never
        // sends a request (a preconnect): give connections a moment to close, then stop.
        let application = try buildNotification(configuration: settings(), logger: logger)
        try await runServices([application, ShutdownDeadline(seconds: 3, logger: logger)], logger: logger)
    }

    /// The configuration the options describe.
    private func settings() throws(ConfigurationError) -> NotificationConfiguration {
        var configuration = Self.defaults
        configuration.changesEndpoint = changes
        configuration.displaysEndpoint = displays
        configuration.httpHost = httpHost
        configuration.httpPort = httpPort
        configuration.redis = try Check.redisURL(redisUrl)
        configuration.serviceKey = try Check.serviceKey(serviceSecretKey)
        configuration.rulesDirectory = rules
        configuration.top = top
        configuration.interval = .milliseconds(intervalMs)
        configuration.displayQueue = displayQueue
        configuration.maxBoards = maxBoards
        configuration.maxDisplays = maxDisplays
        configuration.maxOrgDisplays = maxOrgDisplays
        configuration.maxStreamBoards = maxStreamBoards
        configuration.maxConnections = maxConnections
        configuration.idleTimeout = .milliseconds(idleTimeoutMs)
        configuration.adminToken = adminToken
        configuration.openReads = openReads
        return configuration
    }
}
