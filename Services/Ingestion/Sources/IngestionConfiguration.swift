import Redis
import TallyService
import ZeroMQ

/// tally-ingestion's settings; every one has a default.
package struct IngestionConfiguration: Sendable {
    /// Where field apps connect (ROUTER).
    package var frontend = "tcp://*:5555"
    /// Where scoring workers connect (ROUTER). Beyond loopback only with `serviceKey`.
    package var backend = "tcp://127.0.0.1:5556"
    /// The front door's CURVE key pair (`--curve-secret-key`): set, only field apps with a
    /// registered key get in, and each writes its key's org only; nil, plain text.
    package var curveKey: CurveKeyPair?
    /// The stack's own key pair (`--service-secret-key`): the worker socket admits only it.
    package var serviceKey: ServiceKey?
    /// Where the registered field keys are (read with `curveKey` only).
    package var redis = RedisConfiguration()
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
    /// The most bytes of events (in the job encoding) sent to a worker in one job; a request
    /// larger than that goes in a job of its own (a 1 MiB request is at most about 1.1 MiB).
    /// tally-scoring's `--max-message-size` must be larger.
    package var maxJobBytes = 1 << 20
    /// The most requests one client (one connection) may have waiting or in a job; the
    /// excess is answered `unavailable` at once.
    package var maxClientRequests = 100
    /// The most bytes of requests, as received, one client may have waiting or in a job.
    package var maxClientBytes = 8 << 20
    /// The most bytes of requests, as received, all clients together may have waiting or in a job.
    package var maxQueuedBytes = 128 << 20
    /// How long a worker may hold a job before it is presumed broken and the job goes to another.
    package var jobTimeout: Duration = .seconds(10)

    package init() {}

    /// Every field checked, an error naming its flag.
    package func validate() throws(ConfigurationError) {
        try Check.endpoint(frontend, "frontend")
        try Check.endpoint(backend, "backend")
        try Check.loopbackOnly(backend, "backend", unlessSet: "service-secret-key", isSet: serviceKey != nil)
        try Check.positive(unavailableAfter, "unavailable-after-ms")
        try Check.atLeast(1, maxBatchEvents, "max-batch-events")
        try Check.positive(heartbeatInterval, "heartbeat-ms")
        try Check.atLeast(1, heartbeatLiveness, "heartbeat-liveness")
        try Check.atLeast(1024, Int(maxMessageSize), "max-message-size")
        try Check.within(64 << 10...16 << 20, maxJobBytes, "max-job-bytes")
        try Check.atLeast(1, maxClientRequests, "client-requests")
        try Check.atLeast(Int(maxMessageSize), maxClientBytes, "client-bytes")
        try Check.atLeast(maxClientBytes, maxQueuedBytes, "queue-bytes")
        try Check.positive(jobTimeout, "job-timeout-ms")
        guard shutdownGrace >= .zero else { throw ConfigurationError(option: "shutdown-grace-seconds", problem: "must be 0 or more") }
    }
}
