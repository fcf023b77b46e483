import Foundation
import TallyTesting
import Testing

/// `tally bench --quick` in CI: it completes and reports every scenario. Speed is not
/// asserted here (shared, noisy machines); the figures live in docs/benchmarks.md.
@Suite(.serialized) struct BenchSmokeTests {
    @Test func theQuickBenchmarkCompletesAndReportsEveryScenario() throws {
        let stack = try TallyStack()  // for its binaries and scratch directory
        let bench = try ChildProcess(
            try stack.binary("tally"), ["bench", "--quick", "--seconds", "1", "--peer-events", "0"],
            logFile: stack.directory.appendingPathComponent("bench.log"))
        #expect(bench.wait() == 0, "\(bench.output)")
        for scenario in ["| 1. ingestion", "| 2. Redis ceiling", "| 3. ack latency", "| 4. event → WebSocket update", "| 5. top 10, HTTP",
                         "| 5. rank of a member, raw Redis", "| 6. Redis memory per member"] {
            #expect(bench.output.contains(scenario), "\(scenario) missing:\n\(bench.output)")
        }
    }
}
