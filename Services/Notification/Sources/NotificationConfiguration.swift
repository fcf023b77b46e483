import Redis
import TallyService

/// tally-notification's settings; every one has a default.
package struct NotificationConfiguration: Sendable {
    /// Where scoring and leaderboard publish change notices (SUB, bound).
    package var changesEndpoint = "tcp://*:5557"
    /// Where ZeroMQ displays subscribe (XPUB, bound).
    package var displaysEndpoint = "tcp://*:5560"
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

    package init() {}

    /// Every field checked, an error naming its flag.
    package func validate() throws(ConfigurationError) {
        try Check.endpoint(changesEndpoint, "changes")
        try Check.endpoint(displaysEndpoint, "displays")
        try Check.port(httpPort, "http-port")
        try Check.directory(rulesDirectory, "rules")
        try Check.within(1...1000, top, "top")
        try Check.within(10...10_000, Int(interval.milliseconds), "interval-ms")
        try Check.atLeast(1, displayQueue, "display-queue")
    }
}

