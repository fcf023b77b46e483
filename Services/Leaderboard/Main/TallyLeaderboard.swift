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

    @Option(help: "ZeroMQ request/reply endpoint.")
    var zmq = Environment.string("zmq", default: "tcp://*:5558")

    @Option(help: "HTTP address to listen on.")
    var httpHost = Environment.string("http-host", default: "0.0.0.0")

    @Option(help: "HTTP port.")
    var httpPort = Environment.int("http-port", default: 8080)

    @Option(help: "redis://[:password@]host:port[/db]")
    var redisUrl = Environment.string("redis-url", default: "redis://127.0.0.1:6379")

    @Option(help: "Redis connections that queries share.")
    var redisConnections = Environment.int("redis-connections", default: 4)

    @Option(name: .customLong("rules"), help: "Directory of per-org rules files (<org>.json or <org>.yaml); default rules otherwise.") var rulesOption: String?
    var rules: String? { rulesOption ?? Environment.value("rules") }

    @Option(name: .customLong("admin-token"), help: "Token for admin operations (HTTP 'Authorization: Bearer <token>', ZeroMQ \"token\"). Unset: admin operations are refused.")
    var adminTokenOption: String?
    var adminToken: String? { adminTokenOption ?? Environment.value("admin-token") }

    @Option(help: "Comma-separated endpoints for contest announcements (tally-notification).")
    var notify = Environment.string("notify", default: "tcp://127.0.0.1:5557")

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = Environment.string("log-level", default: "info")

    func run() async throws {
        try bootstrapLogging(level: logLevel)
        let logger = Logger(label: "tally.leaderboard")
        var configuration = LeaderboardConfiguration()
        configuration.zmqEndpoint = zmq
        configuration.httpHost = httpHost
        configuration.httpPort = httpPort
        configuration.redis = try RedisConfiguration(url: redisUrl)
        configuration.redisConnections = max(1, redisConnections)
        configuration.rulesDirectory = rules
        configuration.adminToken = adminToken
        configuration.notify = Environment.list(notify)
        try await buildLeaderboard(configuration: configuration, logger: logger).runService()
    }
}
