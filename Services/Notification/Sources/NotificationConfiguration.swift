import Redis
import TallyService

/// tally-notification's settings; every one has a default.
package struct NotificationConfiguration: Sendable {
    /// Where scoring and leaderboard publish change notices (SUB, bound).
    /// Beyond loopback only with `serviceKey`.
    package var changesEndpoint = "tcp://127.0.0.1:5557"
    /// The stack's own key pair: the changes socket admits only publishers with it.
    package var serviceKey: ServiceKey?
    /// Where ZeroMQ displays subscribe (XPUB, bound). A subscriber presents no token, so it
    /// listens beyond loopback only with `openReads`.
    package var displaysEndpoint = "tcp://127.0.0.1:5560"
    package var httpHost = "0.0.0.0"
    package var httpPort = 8090
    package var redis = RedisConfiguration()
    /// A directory of `<org>.json|yaml` rules files; nil: the defaults.
    package var rulesDirectory: String?
    /// How many entries of a board displays get.
    package var top = 25
    /// The shortest time between two updates of one board, and the longest an update waits.
    package var interval: Duration = .milliseconds(250)
    /// How often every watched board is read again whatever the notices say.
    package var sweepInterval: Duration = .seconds(5)
    /// Messages a WebSocket display may have waiting before it is sent snapshots instead.
    package var displayQueue = 256
    /// The largest message accepted on a ZeroMQ socket.
    package var maxMessageSize: Int64 = 1 << 20
    /// Boards read for displays at once (boards with no data yet do not count): each costs a
    /// read per change and per sweep.
    package var maxBoards = 1_000
    /// WebSocket displays connected at once, in all orgs, and in any one org.
    package var maxDisplays = 1_000
    package var maxOrgDisplays = 200
    /// Boards one WebSocket stream may ask for.
    package var maxStreamBoards = 32
    /// HTTP connections open at once (WebSocket displays included).
    package var maxConnections = 2_000
    /// A connection that sends nothing for this long is closed; WebSocket displays are pinged
    /// every half of it, and a browser's answer counts.
    package var idleTimeout: Duration = .seconds(60)
    /// The operator's token, which may open any org's streams; nil: none.
    package var adminToken: String?
    /// Anyone may open streams; without it a stream needs a viewer or organizer token.
    package var openReads = false
    /// How often the tokens of open streams are looked up again (a revoked one's stream closes).
    package var tokenCheckInterval: Duration = .seconds(2)

    package init() {}

    /// Every field checked, an error naming its flag.
    package func validate() throws(ConfigurationError) {
        try Check.endpoint(changesEndpoint, "changes")
        try Check.loopbackOnly(changesEndpoint, "changes", unlessSet: "service-secret-key", isSet: serviceKey != nil)
        try Check.endpoint(displaysEndpoint, "displays")
        try Check.loopbackOnly(displaysEndpoint, "displays", unlessSet: "open-reads", isSet: openReads)
        try Check.port(httpPort, "http-port")
        try Check.directory(rulesDirectory, "rules")
        try Check.within(1...1000, top, "top")
        try Check.within(10...10_000, Int(interval.milliseconds), "interval-ms")
        try Check.atLeast(1, displayQueue, "display-queue")
        try Check.within(1...1_000_000, maxBoards, "max-boards")
        try Check.within(1...1_000_000, maxDisplays, "max-displays")
        try Check.within(1...1_000_000, maxOrgDisplays, "max-org-displays")
        try Check.within(1...1_000, maxStreamBoards, "max-stream-boards")
        try Check.within(1...1_000_000, maxConnections, "max-connections")
        try Check.within(100...86_400_000, Int(idleTimeout.milliseconds), "idle-timeout-ms")
        if adminToken?.isEmpty == true { throw ConfigurationError(option: "admin-token", problem: "must not be empty (leave it unset for none)") }
    }
}

