import Foundation
import TallyTesting
import Testing

/// `tally bench --quick` in CI: it completes and reports every scenario. Speed is not
/// asserted here (shared, noisy machines); the figures live in docs/benchmarks.md. `tally bench`
/// runs the `tally-bench` executable built beside it.
@Suite(.serialized) struct BenchSmokeTests {
    @Test func theQuickBenchmarkCompletesAndReportsEveryScenario() throws {
        let stack = try TallyStack()  // for its binaries and scratch directory
        let bench = try ChildProcess(
            try stack.binary("tally"), ["bench", "--quick", "--seconds", "1", "--peer-events", "0"],
            logFile: stack.directory.appendingPathComponent("bench.log"))
        #expect(bench.wait() == 0, "\(bench.output)")
        for scenario in ["| 1. ingestion", "| 2. Redis ceiling", "| 3. ack latency", "| 4. event → WebSocket update", "| 5. top 10, HTTP",
                         "| 5. rank of a member, raw Redis", "| 6. Redis memory per member",
                         "| 8. front door in plain text", "| 8. front door with CURVE"] {
            #expect(bench.output.contains(scenario), "\(scenario) missing:\n\(bench.output)")
        }
    }

    @Test func tallyBenchPassesEveryArgumentOnHelpIncluded() throws {
        let stack = try TallyStack()
        let help = try ChildProcess(try stack.binary("tally"), ["bench", "--help"], logFile: stack.directory.appendingPathComponent("help.log"))
        #expect(help.wait() == 0, "\(help.output)")
        #expect(help.output.contains("USAGE: tally-bench"), "\(help.output)")
        #expect(help.output.contains("--peer-events"), "the benchmark's own options: \(help.output)")
    }

    @Test func tallyBenchWithoutTallyBenchSaysHowToBuildIt() throws {
        let stack = try TallyStack()
        // A directory with tally in it and no tally-bench, as after `swift build --product tally`.
        let alone = stack.directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: alone, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try stack.binary("tally"), to: alone.appendingPathComponent("tally"))
        let bench = try ChildProcess(
            alone.appendingPathComponent("tally"), ["bench", "--quick"], logFile: stack.directory.appendingPathComponent("alone.log"))
        bench.wait()
        #expect(bench.exitCode == 1, "\(bench.output)")
        #expect(bench.output.contains("\(alone.path)/tally-bench is not built; run `swift build --product tally-bench`"), "\(bench.output)")
    }
}

