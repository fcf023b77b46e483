import TallyLauncher
import Testing

/// The command lines a stack's services start with. `tally up` serves a sales floor: its
/// public endpoints on every interface, exactly the flags it has always passed; benchmarks and
/// tests stay on loopback.
@Suite struct LocalStackTests {
    @Test func tallyUpBindsThePublicEndpointsOnEveryInterface() {
        var stack = LocalStack(redisURL: "redis://127.0.0.1:6379", interfaces: .all)
        // ZeroMQ displays present no token: on every interface only when reads are open.
        #expect(stack.arguments(for: .notification) == [
            "--changes", "tcp://127.0.0.1:5557", "--displays", "tcp://127.0.0.1:5560", "--http-port", "8090",
        ])
        stack.openReads = true
        #expect(stack.arguments(for: .notification) == [
            "--changes", "tcp://127.0.0.1:5557", "--displays", "tcp://*:5560", "--http-port", "8090",
        ])
        #expect(stack.arguments(for: .ingestion) == ["--frontend", "tcp://*:5555", "--backend", "tcp://127.0.0.1:5556"])
        #expect(stack.arguments(for: .scoring) == ["--ingestion", "tcp://127.0.0.1:5556"])
        #expect(stack.arguments(for: .leaderboard) == ["--zmq", "tcp://*:5558", "--http-port", "8080"])
    }

    @Test func benchmarksAndTestsListenOnLoopbackOnly() {
        let stack = LocalStack(
            redisURL: "redis://127.0.0.1:7000", interfaces: .loopback, ingestionPort: 7001, workerPort: 7002, notifyPort: 7003,
            leaderboardPort: 7004, httpPort: 7005, displaysPort: 7006, tvPort: 7007, logLevel: "warning")
        #expect(stack.arguments(for: .notification) == [
            "--changes", "tcp://127.0.0.1:7003", "--displays", "tcp://127.0.0.1:7006", "--http-host", "127.0.0.1",
            "--http-port", "7007", "--log-level", "warning",
        ])
        #expect(stack.arguments(for: .ingestion) == [
            "--frontend", "tcp://127.0.0.1:7001", "--backend", "tcp://127.0.0.1:7002", "--log-level", "warning",
        ])
        #expect(stack.arguments(for: .leaderboard) == [
            "--zmq", "tcp://127.0.0.1:7004", "--http-host", "127.0.0.1", "--http-port", "7005", "--log-level", "warning",
        ])
    }

    @Test func secretsAndConnectionsTravelInTheEnvironmentNotOnCommandLines() {
        let stack = LocalStack(
            redisURL: "redis://:pw@127.0.0.1:6379", interfaces: .all, notifyPort: 6000, rules: "/etc/tally/rules", adminToken: "tok")
        #expect(stack.environment == [
            "TALLY_REDIS_URL": "redis://:pw@127.0.0.1:6379", "TALLY_NOTIFY": "tcp://127.0.0.1:6000",
            "TALLY_RULES": "/etc/tally/rules", "TALLY_ADMIN_TOKEN": "tok",
        ])
        for service in StackService.allCases {
            #expect(!stack.arguments(for: service).contains { $0.contains("pw") || $0.contains("tok") }, "\(service)")
        }
    }
}
