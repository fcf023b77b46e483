import Redis
import TallyService

/// tally-leaderboard's settings; every one has a default.
package struct LeaderboardConfiguration: Sendable {
    /// ZeroMQ request/reply endpoint (ROUTER).
    package var zmqEndpoint = "tcp://*:5558"
    package var httpHost = "0.0.0.0"
    package var httpPort = 8080
    package var redis = RedisConfiguration()
    /// Redis connections queries share (each request uses one at a time).
    package var redisConnections = 4
    /// A directory of `<org>.json|yaml` rules files (time zones, metrics); nil: the defaults.
    package var rulesDirectory: String?
    /// The operator's token: everything in every org, tokens included; nil: no admin.
    package var adminToken: String?
    /// Anyone may read (boards, members, contests); writes still need a token.
    package var openReads = false
    /// Where contest announcements go (tally-notification's SUB endpoints).
    package var notify = ["tcp://127.0.0.1:5557"]
    /// The stack's own key pair: contest announcements go to notification with it.
    package var serviceKey: ServiceKey?
    /// ZeroMQ requests served as tasks at once (the hot reads are answered on the socket's
    /// thread, a batch at a time, and do not count).
    package var zmqConcurrency = 64
    /// The largest request accepted on the ZeroMQ socket: a quota put of 10,000 quotas fits.
    package var maxMessageSize = Int64(Operation.maxQuotaBodyBytes)
    /// HTTP connections open at once; more are closed at once.
    package var maxConnections = 1_000
    /// An HTTP connection that sends nothing for this long is closed.
    package var idleTimeout: Duration = .seconds(60)

    /// How long an org's version learned with Redis's tracking (`RedisKeyWatch`) is trusted
    /// without hearing from Redis: a kept answer at that version is then answered from memory.
    /// Zero: every read asks Redis.
    package var versionLease: Duration = .seconds(1)

    package init() {}

    /// Every field checked, an error naming its flag.
    package func validate() throws(ConfigurationError) {
        try Check.endpoint(zmqEndpoint, "zmq")
        try Check.port(httpPort, "http-port")
        try Check.within(1...1024, redisConnections, "redis-connections")
        try Check.directory(rulesDirectory, "rules")
        if adminToken?.isEmpty == true { throw ConfigurationError(option: "admin-token", problem: "must not be empty (leave it unset to refuse admin operations)") }
        try Check.endpoints(notify, "notify")
        try Check.within(1...10_000, zmqConcurrency, "zmq-concurrency")
        try Check.within(1...1_000_000, maxConnections, "max-connections")
        try Check.within(100...86_400_000, Int(idleTimeout.milliseconds), "idle-timeout-ms")
        try Check.within(0...60_000, Int(versionLease.milliseconds), "version-lease-ms")
    }
}
