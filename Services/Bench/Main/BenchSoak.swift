import Foundation
import Redis
import TallyLauncher

/// The soak: `tally simulate` at a steady rate for a number of minutes while WebSocket displays
/// watch, with each service's resident memory and Redis's own sampled every minute, to show
/// that nothing grows with time that should not.
enum Soak {
    struct Sample {
        var minute: Int
        /// Resident MiB by process name (the services and redis-server).
        var resident: [String: Double]
        var redisUsedMegabytes: Double
        var redisKeys: Int
    }

    static func run(stack: BenchStack, minutes: Int, rate: Double, reps: Int, displays: Int) throws -> [Sample] {
        try stack.scoringWorkers(2)
        let org = "soak"
        let probe = DisplayProbe(base: 0)
        try probe.connect(url: "ws://127.0.0.1:\(stack.tvPort)/v1/stream?org=\(org)&board=points:today:reps&board=revenue:month:teams", count: displays)
        defer { _ = probe.finish() }
        let simulator = try stack.start(
            "simulate", try Executables.tally("tally"),
            ["simulate", "--ingestion", stack.ingestion, "--org", org, "--reps", String(reps), "--teams", "10",
             "--rate", String(rate), "--duration", String(minutes * 60 + 30)])
        defer { simulator.stop(within: 5) }
        let redis = try RedisConnection(url: stack.redisURL)
        let start = Date()
        var samples: [Sample] = []
        for minute in 0...minutes {
            Thread.sleep(until: start.addingTimeInterval(Double(minute) * 60))
            try stack.checkAlive()
            let info = try redis.send("INFO", "memory").string ?? ""
            let used = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("used_memory:") }.flatMap { Double($0.dropFirst("used_memory:".count)) } ?? 0
            let sample = Sample(
                minute: minute, resident: Dictionary(stack.memory.map { ($0.name, $0.megabytes) }, uniquingKeysWith: { a, _ in a }),
                redisUsedMegabytes: used / 1_048_576, redisKeys: Int(try redis.send("DBSIZE").int ?? 0))
            FileHandle.standardError.write(Data("[soak] minute \(minute): \(sample.resident.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1f", $0.value))" }.joined(separator: ", ")); redis used \(String(format: "%.1f", sample.redisUsedMegabytes)) MiB, \(sample.redisKeys) keys\n".utf8))
            samples.append(sample)
        }
        return samples
    }

    /// The samples as a Markdown table, and each column's spread after `warmUp` minutes.
    static func table(_ samples: [Sample], warmUp: Int) -> String {
        let names = samples.last.map { $0.resident.keys.sorted() } ?? []
        var out = "| minute | " + names.map { "\($0) MiB" }.joined(separator: " | ") + " | Redis used_memory MiB | Redis keys |\n"
        out += "|" + String(repeating: "---|", count: names.count + 3) + "\n"
        for sample in samples {
            out += "| \(sample.minute) | " + names.map { String(format: "%.1f", sample.resident[$0] ?? .nan) }.joined(separator: " | ")
                + String(format: " | %.1f | %d |\n", sample.redisUsedMegabytes, sample.redisKeys)
        }
        let steady = samples.filter { $0.minute >= warmUp }
        func spread(_ values: [Double]) -> String {
            guard let low = values.min(), let high = values.max(), low > 0 else { return "n/a" }
            return String(format: "%.1f–%.1f (%+.0f%%)", low, high, (high - low) / low * 100)
        }
        out += "\nAfter minute \(warmUp): " + names.map { name in "\(name) \(spread(steady.compactMap { $0.resident[name] }))" }.joined(separator: "; ")
            + "; Redis used_memory \(spread(steady.map(\.redisUsedMegabytes))) MiB\n"
        return out
    }
}
