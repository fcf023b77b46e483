import ArgumentParser
import Foundation
import TallyService

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate a sales floor sending activities, with the achieved rate and ack latency every second.")

    @Option(help: "tally-ingestion's endpoint.") var ingestion = Environment.string("ingestion", default: "tcp://127.0.0.1:5555")
    @Option(help: "Organization.") var org = Environment.string("org", default: "default")
    @Option(help: "How many reps.") var reps = 40
    @Option(help: "How many teams (at most 10).") var teams = 5
    @Option(help: "Events per second.") var rate = 20.0
    @Option(help: "Seconds to run (default: until Ctrl-C).") var duration: Double?
    @OptionGroup var keys: FieldAppKeys

    func validate() throws {
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
        guard (1...10).contains(teams) else { throw ValidationError("--teams must be 1 to 10") }
        guard rate > 0 else { throw ValidationError("--rate must be above 0") }
        if let duration, !(duration > 0) { throw ValidationError("--duration: must be above 0 seconds, got \(duration)") }
    }

    func run() throws {
        let simulator = Simulator(reps: reps, teams: teams, org: org)
        let reporter = Thread {
            var last = (at: Date(), accepted: 0)
            while !simulator.isStopped {
                Thread.sleep(forTimeInterval: 1)
                FileHandle.standardError.write(Data("\r\(report(simulator, since: &last))   ".utf8))
            }
        }
        reporter.start()
        defer {
            simulator.stop()
            var last = (at: Date.distantPast, accepted: 0)
            FileHandle.standardError.write(Data("\n\(report(simulator, since: &last))\n".utf8))
        }
        try simulator.run(ingestion: ingestion, options: try keys.socketOptions(), rate: rate, duration: duration)
    }
}

/// `sent 1200 · accepted 1198 (20.1/s) · rejected 0 · ack p50 3.1 ms p99 9.8 ms`; the rate and
/// latencies are those since `last`.
func report(_ simulator: Simulator, since last: inout (at: Date, accepted: Int)) -> String {
    let now = Date()
    let (progress, latencies) = simulator.progress.withLock { progress in
        defer { progress.latencies = [] }
        return (progress, progress.latencies.sorted())
    }
    /// The nearest-rank percentile `p` (0...1) of the interval's latencies.
    func percentile(_ p: Double) -> String {
        guard !latencies.isEmpty else { return "-" }
        let rank = Int((Double(latencies.count) * p).rounded(.up))
        return String(format: "%.1f", latencies[max(0, min(latencies.count - 1, rank - 1))])
    }
    let seconds = now.timeIntervalSince(last.at)
    let rate = seconds < 1e6 ? String(format: " (%.1f/s)", Double(progress.accepted - last.accepted) / max(0.001, seconds)) : ""
    last = (now, progress.accepted)
    return "sent \(progress.sent) · accepted \(progress.accepted)\(rate) · rejected \(progress.rejected) · ack p50 \(percentile(0.5)) ms p99 \(percentile(0.99)) ms"
}
