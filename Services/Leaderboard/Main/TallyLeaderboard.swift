import ArgumentParser
import Hummingbird
import Leaderboard
import Logging
import Redis
import TallyService

@main
struct TallyLeaderboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-leaderboard",
        abstract: "Board queries over HTTP and ZeroMQ.",
        discussion: "Every option can also be set as TALLY_<OPTION>, e.g. TALLY_ADMIN_TOKEN=....")
    /// Where every default comes from.
    private static let defaults = LeaderboardConfiguration()

    @Option(help: "ZeroMQ request/reply endpoint.")
    var zmq = Environment.string("zmq", default: defaults.zmqEndpoint)

    @Option(help: "HTTP address to listen on.")
    var httpHost = Environment.string("http-host", default: defaults.httpHost)

    @Option(help: "HTTP port.")
    var httpPort = Environment.int("http-port", default: defaults.httpPort)

    @Option(help: "redis://[:password@]host:port[/db]")
    var redisUrl = Environment.string("redis-url", default: defaults.redis.url)

    @Option(help: "ZeroMQ requests served at once (contests, admin operations); more wait unread.")
    var zmqConcurrency = Environment.int("zmq-concurrency", default: defaults.zmqConcurrency)

    @Option(help: "Redis connections that queries share.")
    var redisConnections = Environment.int("redis-connections", default: defaults.redisConnections)

    @Option(name: .customLong("rules"), help: "Directory of per-org rules files (<org>.json or <org>.yaml); default rules otherwise.") var rulesOption: String?
    var rules: String? { rulesOption ?? Environment.value("rules") }

    @Option(name: .customLong("admin-token"), help: "The operator's token: everything in every org, org tokens included (HTTP 'Authorization: Bearer <token>', ZeroMQ \"token\"). Unset: no admin.")
    var adminTokenOption: String?
    var adminToken: String? { adminTokenOption ?? Environment.value("admin-token") }

    @Flag(name: .customLong("open-reads"), help: "Anyone may read boards, members and contests (TALLY_OPEN_READS=true); writes still need a token.")
    var openReadsFlag = false
    var openReads: Bool { openReadsFlag || Environment.bool("open-reads", default: false) }

    @Option(help: "Comma-separated endpoints for contest announcements (tally-notification).")
    var notify = Environment.string("notify", default: defaults.notify.joined(separator: ","))

    @Option(help: "HTTP connections open at once; more are closed at once.")
    var maxConnections = Environment.int("max-connections", default: defaults.maxConnections)

    @Option(help: "An HTTP connection that sends nothing for this long is closed (ms).")
    var idleTimeoutMs = Environment.int("idle-timeout-ms", default: Int(defaults.idleTimeout.milliseconds))

    @Option(help: "How long an org's version, once Redis tracks it for us, answers kept reads without asking Redis (ms); 0: ask on every read.")
    var versionLeaseMs = Environment.int("version-lease-ms", default: Int(defaults.versionLease.milliseconds))

    @Option(name: .customLong("service-secret-key"), help: ArgumentHelp(ServiceKey.optionHelp))
    var serviceSecretKey: String?

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
        let logger = Logger(label: "tally.leaderboard")
        try await buildLeaderboard(configuration: settings(), logger: logger).runService()
    }

    /// The configuration the options describe.
    private func settings() throws(ConfigurationError) -> LeaderboardConfiguration {
        var configuration = Self.defaults
        configuration.zmqEndpoint = zmq
        configuration.httpHost = httpHost
        configuration.httpPort = httpPort
        configuration.redis = try Check.redisURL(redisUrl)
        configuration.serviceKey = try Check.serviceKey(serviceSecretKey)
        configuration.redisConnections = redisConnections
        configuration.zmqConcurrency = zmqConcurrency
        configuration.rulesDirectory = rules
        configuration.adminToken = adminToken
        configuration.openReads = openReads
        configuration.notify = Environment.list(notify)
        configuration.maxConnections = maxConnections
        configuration.idleTimeout = .milliseconds(idleTimeoutMs)
        configuration.versionLease = .milliseconds(versionLeaseMs)
        return configuration
    }
}
