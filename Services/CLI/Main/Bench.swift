import ArgumentParser
import Foundation
import TallyLauncher
#if canImport(Glibc)
import Glibc
#endif

/// `tally bench …` runs `tally-bench …`: the benchmark is an executable of its own, so that
/// `tally` does not carry its WebSocket client and TLS stack.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Tally against the Redis ceiling and the Python `leaderboard` library (runs tally-bench).",
        discussion: """
            Runs tally-bench from the directory tally is in, with the same arguments; `tally bench --help`
            lists its options. Build it with `swift build -c release --product tally-bench`, or run
            scripts/bench, which builds what the benchmark runs and runs it.
            """)

    @Argument(parsing: .captureForPassthrough, help: "tally-bench's options.") var arguments: [String] = []

    func run() throws {
        // Not built: "…/tally-bench is not built; run `swift build --product tally-bench`".
        let bench = try Executables.tally("tally-bench")
        let argv = [bench.path] + arguments
        var pointers = argv.map { strdup($0) } + [nil]
        execv(bench.path, &pointers)
        // Only reached when exec failed.
        throw ValidationError("cannot run \(bench.path): \(String(cString: strerror(errno)))")
    }
}
