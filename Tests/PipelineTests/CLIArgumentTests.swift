import Foundation
import TallyTesting
import Testing

/// The `tally` command refuses a number that makes no sense before it connects anywhere,
/// naming the option, instead of crashing or spinning.
@Suite struct CLIArgumentTests {
    func tally(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("tally-arguments-\(UUID()).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let process = try ChildProcess(try Executables.tally("tally"), arguments, logFile: log)
        // One that takes the number runs on, waiting for a stack that is not there: stopped.
        defer { process.signal(SIGKILL) }
        try wait("tally \(arguments.joined(separator: " ")) to exit", seconds: 20) { !process.isRunning }
        let status = process.wait()
        return ((status >> 8) & 0xff, process.output)
    }

    @Test(arguments: [
        // A negative number is given as --option=-1: alone, "-1" reads as an option.
        (["watch", "points:today:reps", "--rows=-1"], "--rows: must be at least 1, got -1"),
        (["watch", "points:today:reps", "--rows", "0"], "--rows: must be at least 1, got 0"),
        (["watch", "points:today:reps", "--count=-3"], "--count: must be 0 (run until Ctrl-C) or more, got -3"),
        (["activity", "--follow", "--interval", "0"], "--interval: must be 0.1 to 3600 seconds, got 0.0"),
        (["simulate", "--duration=-5"], "--duration: must be above 0 seconds, got -5.0"),
    ])
    func aSenselessNumberIsRefusedNamingItsOption(_ arguments: [String], _ message: String) throws {
        let (status, output) = try tally(arguments)
        #expect(status == 64, "a usage error, not a crash: \(status)\n\(output)")
        #expect(output.contains(message), "\(output)")
    }
}
