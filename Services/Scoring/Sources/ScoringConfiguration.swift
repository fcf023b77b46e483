import Redis
import TallyService

/// tally-scoring's settings; every one has a default.
package struct ScoringConfiguration: Sendable {
    /// tally-ingestion's worker endpoint.
    package var ingestion = "tcp://127.0.0.1:5556"
    /// Where change notices go (tally-notification's SUB endpoints).
    package var notify = ["tcp://127.0.0.1:5557"]
    package var redis = RedisConfiguration()
    /// A directory of `<org>.json|yaml` rules files; nil: the default rules for every org.
    package var rulesDirectory: String?
    package var heartbeatInterval: Duration = .seconds(1)
    package var heartbeatLiveness = 3
    /// Where the Redis master has replicas, how long a batch waits for one to have it before
    /// its events are answered `unavailable` (they are stored; the retry is answered `duplicate`).
    package var replicaWait: Duration = .seconds(1)
    package var maxMessageSize: Int64 = 16 << 20
    /// The stack's own key pair: the worker and notice sockets connect with it.
    package var serviceKey: ServiceKey?

    package init() {}

    /// Every field checked, an error naming its flag.
    package func validate() throws(ConfigurationError) {
        try Check.endpoint(ingestion, "ingestion")
        try Check.endpoints(notify, "notify")
        try Check.directory(rulesDirectory, "rules")
        try Check.positive(heartbeatInterval, "heartbeat-ms")
        try Check.atLeast(1, heartbeatLiveness, "heartbeat-liveness")
        try Check.positive(replicaWait, "replica-wait-ms")
    }
}
