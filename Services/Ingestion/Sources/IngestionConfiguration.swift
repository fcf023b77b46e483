import TallyService

/// tally-ingestion's settings; every one has a default.
package struct IngestionConfiguration: Sendable {
    /// Where field apps connect (ROUTER).
    package var frontend = "tcp://*:5555"
    /// Where scoring workers connect (ROUTER).
    package var backend = "tcp://*:5556"
    /// How long a request may wait for a worker before it is answered `unavailable`.
    package var unavailableAfter: Duration = .seconds(2)
    /// The most events sent to a worker in one job.
    package var maxBatchEvents = 1_000
    /// How often ingestion and workers tell each other they are alive.
    package var heartbeatInterval: Duration = .seconds(1)
    /// How many heartbeat intervals of silence make a worker dead.
    package var heartbeatLiveness = 3
    /// The largest message accepted on either socket.
    package var maxMessageSize: Int64 = 1 << 20
    /// How long shutdown waits for in-flight work before answering it `unavailable`.
    package var shutdownGrace: Duration = .seconds(10)

    package init() {}

    /// Every field checked, an error naming its flag.
    package func validate() throws(ConfigurationError) {
        try Check.endpoint(frontend, "frontend")
        try Check.endpoint(backend, "backend")
        try Check.positive(unavailableAfter, "unavailable-after-ms")
        try Check.atLeast(1, maxBatchEvents, "max-batch-events")
        try Check.positive(heartbeatInterval, "heartbeat-ms")
        try Check.atLeast(1, heartbeatLiveness, "heartbeat-liveness")
        try Check.atLeast(1024, Int(maxMessageSize), "max-message-size")
        guard shutdownGrace >= .zero else { throw ConfigurationError(option: "shutdown-grace-seconds", problem: "must be 0 or more") }
    }
}
