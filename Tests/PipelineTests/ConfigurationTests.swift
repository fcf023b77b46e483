import Foundation
import TallyTesting
import Testing

/// Every service checks its whole configuration at start-up and refuses a bad value naming the
/// flag as a user types it, whether the value came from the flag or from its TALLY_ variable.
@Suite struct ConfigurationTests {
    /// The executable, its arguments, its environment, and what its error must say.
    static let refusals: [(String, [String], [String: String], String)] = [
        // Was "--unavailable-after: must be positive", a flag that does not exist.
        ("tally-ingestion", ["--unavailable-after-ms", "0"], [:], "--unavailable-after-ms: must be at least 1, got 0"),
        ("tally-ingestion", ["--max-batch-events", "0"], [:], "--max-batch-events: must be at least 1, got 0"),
        ("tally-ingestion", ["--frontend", "localhost:5555"], [:], "--frontend: 'localhost:5555' is not a ZeroMQ endpoint"),
        // The front door's bounds, by flag and by variable.
        ("tally-ingestion", [], ["TALLY_CLIENT_REQUESTS": "0"], "--client-requests: must be at least 1, got 0"),
        ("tally-ingestion", ["--client-bytes", "1000"], [:], "--client-bytes: must be at least 1048576, got 1000"),
        ("tally-ingestion", [], ["TALLY_QUEUE_BYTES": "2000000"], "--queue-bytes: must be at least 8388608, got 2000000"),
        ("tally-ingestion", ["--max-job-bytes", "100"], [:], "--max-job-bytes: must be 65536 to 16777216, got 100"),
        ("tally-ingestion", [], ["TALLY_JOB_TIMEOUT_MS": "0"], "--job-timeout-ms: must be at least 1, got 0"),
        // A variable that is not a number was quietly replaced by the default.
        ("tally-scoring", [], ["TALLY_HEARTBEAT_MS": "soon"], "--heartbeat-ms: TALLY_HEARTBEAT_MS='soon' is not a whole number"),
        ("tally-scoring", ["--heartbeat-liveness", "0"], [:], "--heartbeat-liveness: must be at least 1, got 0"),
        ("tally-scoring", ["--rules", "/no/such/rules"], [:], "--rules: no directory at '/no/such/rules'"),
        ("tally-leaderboard", ["--http-port", "70000"], [:], "--http-port: must be 0 to 65535, got 70000"),
        ("tally-leaderboard", [], ["TALLY_REDIS_CONNECTIONS": "0"], "--redis-connections: must be 1 to 1024, got 0"),
        ("tally-leaderboard", ["--log-level", "loud"], [:], "--log-level: must be one of trace"),
        ("tally-notification", ["--interval-ms", "5"], [:], "--interval-ms: must be 10 to 10000, got 5"),
        ("tally-notification", [], ["TALLY_REDIS_URL": "redis://h:99999"], "--redis-url: port 99999 is out of range"),
        ("tally-notification", ["--displays", "tcp://127.0.0.1"], [:], "--displays: 'tcp://127.0.0.1' has no port"),
        // The stack's own sockets take no authentication without the service key: loopback only.
        ("tally-ingestion", ["--backend", "tcp://*:5556"], [:], "--backend: 'tcp://*:5556' listens beyond this machine, and takes no credentials; without --service-secret-key it may listen on loopback only"),
        ("tally-notification", ["--changes", "tcp://0.0.0.0:5557"], [:], "--changes: 'tcp://0.0.0.0:5557' listens beyond this machine, and takes no credentials; without --service-secret-key"),
        // ZeroMQ displays present no token: beyond loopback only when reads are open to anyone.
        ("tally-notification", ["--displays", "tcp://*:5560"], [:], "--displays: 'tcp://*:5560' listens beyond this machine, and takes no credentials; without --open-reads"),
        ("tally-scoring", [], ["TALLY_SERVICE_SECRET_KEY": "short"], "--service-secret-key: must be a CURVE secret key, 40 characters of Z85"),
        ("tally-ingestion", ["--curve-secret-key", "not-a-key"], [:], "--curve-secret-key: must be a CURVE secret key, 40 characters of Z85"),
        // Open reads are only ever switched on by a clear yes.
        ("tally-leaderboard", [], ["TALLY_OPEN_READS": "maybe"], "--open-reads: TALLY_OPEN_READS='maybe' is not true or false"),
        ("tally-notification", [], ["TALLY_OPEN_READS": "ja"], "--open-reads: TALLY_OPEN_READS='ja' is not true or false"),
        ("tally-notification", ["--admin-token", ""], [:], "--admin-token: must not be empty"),
        // Given a flag, its unreadable variable is not what the error is about: the flag decides.
        ("tally-leaderboard", ["--http-port", "70000"], ["TALLY_HTTP_PORT": "soon"], "--http-port: must be 0 to 65535, got 70000"),
    ]

    @Test(arguments: refusals)
    func aBadValueIsRefusedNamingTheFlag(executable: String, arguments: [String], environment: [String: String], expected: String) throws {
        let stack = try TallyStack()
        let log = stack.directory.appendingPathComponent("\(executable)-\(UUID().uuidString.prefix(6)).log")
        let process = try ChildProcess(try stack.binary(executable), arguments, environment: environment, logFile: log)
        // A service that took the value starts and runs: stop it, and the test fails.
        try? wait("\(executable) to exit", seconds: 10) { !process.isRunning }
        let status = process.stop(within: 1)
        #expect(status & 0x7f == 0 && (status >> 8) & 0xff != 0, "exited with \(status)")
        #expect(process.output.contains(expected), "\(process.output)")
    }
}
