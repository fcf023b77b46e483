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

    package func validate() throws(ConfigurationError) {
        if maxBatchEvents < 1 { throw .init(option: "max-batch-events", problem: "must be at least 1") }
        if heartbeatLiveness < 1 { throw .init(option: "heartbeat-liveness", problem: "must be at least 1") }
        if unavailableAfter <= .zero { throw .init(option: "unavailable-after", problem: "must be positive") }
        if maxMessageSize < 1024 { throw .init(option: "max-message-size", problem: "must be at least 1024 bytes") }
    }
}
