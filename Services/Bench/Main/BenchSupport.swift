import Foundation
import Redis
import Synchronization
import TallyLauncher
#if canImport(Glibc)
import Glibc
#endif

/// Latencies in milliseconds, summarized.
struct Latencies {
    var values: [Double] = []

    mutating func add(_ milliseconds: Double) { values.append(milliseconds) }
    mutating func add(contentsOf other: Latencies) { values += other.values }

    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = Int((Double(sorted.count) * p / 100).rounded(.up))
        return sorted[Swift.max(0, Swift.min(sorted.count - 1, rank - 1))]
    }
    var max: Double { values.max() ?? .nan }
    var summary: String { String(format: "p50 %.1f ms · p99 %.1f ms · max %.1f ms", percentile(50), percentile(99), max) }
}

/// Runs `count` threads of `body` (given its index) and returns their results in order.
func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
    let results = Mutex<[Int: T]>([:])
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            let result = body(index)
            results.withLock { $0[index] = result }
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
    return results.withLock { results in (0..<count).map { results[$0]! } }
}

/// Closed-loop load: `threads` threads each repeat `call` for `seconds`; operations a second
/// and the latency of each call.
func closedLoop(
    threads: Int, seconds: Double, setUp: @escaping @Sendable (Int) throws -> (() throws -> Void)
) throws -> (perSecond: Double, latencies: Latencies) {
    let results = onThreads(threads) { index -> Result<(Int, [Double]), any Error> in
        do {
            let call = try setUp(index)
            var latencies: [Double] = []
            let start = Date()
            let end = start.addingTimeInterval(seconds)
            while Date() < end {
                let begun = DispatchTime.now().uptimeNanoseconds
                try call()
                latencies.append(Double(DispatchTime.now().uptimeNanoseconds - begun) / 1e6)
            }
            return .success((latencies.count, latencies))
        } catch {
            return .failure(error)
        }
    }
    var total = 0
    var latencies = Latencies()
    for result in results {
        let (count, values) = try result.get()
        total += count
        latencies.values += values
    }
    return (Double(total) / seconds, latencies)
}

/// The CPU time a process has used so far, in user mode and in the kernel, in seconds, from /proc.
func cpuSeconds(pid: pid_t) -> (user: Double, system: Double)? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let end = stat.lastIndex(of: ")")
    else { return nil }
    // After "pid (comm)": state is field 3, utime 14 and stime 15.
    let fields = stat[stat.index(after: end)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
    return (user / tick, system / tick)
}

/// A process's resident memory, from /proc.
func residentMegabytes(pid: pid_t) -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return nil }
    return kilobytes / 1024
}

/// HTTP/1.1 GETs over one kept-alive connection, as a dashboard or script would make them.
final class HTTPConnection {
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        guard let connected = connectLoopback(port: port) else { throw BenchError("cannot connect to 127.0.0.1:\(port)") }
        fd = connected
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    /// The status and body of `GET path`, with `token` as `Authorization: Bearer` when given.
    func get(_ path: String, token: String? = nil) throws -> (status: Int, body: [UInt8]) {
        let authorization = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(authorization)\r\n"
        let sent = request.withCString { send(fd, $0, strlen($0), 0) }
        guard sent > 0 else { throw BenchError("HTTP send failed") }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headEnd: Range<Int>?
        while true {
            headEnd = buffer.firstRange(of: separator)
            if headEnd != nil { break }
            try fill()
        }
        let head = String(decoding: buffer[..<headEnd!.lowerBound], as: UTF8.self).lowercased()
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        guard let lengthLine = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(lengthLine.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { throw BenchError("HTTP response without content-length") }
        while buffer.count < headEnd!.upperBound + length { try fill() }
        let body = Array(buffer[headEnd!.upperBound..<(headEnd!.upperBound + length)])
        buffer.removeFirst(headEnd!.upperBound + length)
        return (status, body)
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &chunk, chunk.count, 0)
        guard count > 0 else { throw BenchError("HTTP connection closed") }
        buffer.append(contentsOf: chunk[..<count])
    }
}

/// Each command Redis ran since the last CONFIG RESETSTAT: calls, and the time spent in them.
func commandStats(_ redis: RedisConnection) throws -> [(command: String, calls: Int, microseconds: Double)] {
    let info = try redis.send("INFO", "commandstats").string ?? ""
    return info.split(whereSeparator: \.isNewline).compactMap { line in
        // cmdstat_evalsha:calls=12,usec=340,usec_per_call=28.33,...
        guard line.hasPrefix("cmdstat_"), let colon = line.firstIndex(of: ":") else { return nil }
        let command = String(line[line.index(line.startIndex, offsetBy: 8)..<colon])
        guard command != "info" && command != "config" else { return nil }
        var fields: [Substring: Substring] = [:]
        for pair in line[line.index(after: colon)...].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        guard let calls = fields["calls"].flatMap({ Int($0) }), let total = fields["usec"].flatMap({ Double($0) }) else { return nil }
        return (command, calls, total)
    }
}

/// Microseconds Redis spent running scripts since the last CONFIG RESETSTAT.
func scriptMicroseconds(_ redis: RedisConnection) throws -> Double {
    try commandStats(redis).first { $0.command == "evalsha" }?.microseconds ?? 0
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Two sides measured in rounds taking turns, the first of each pair alternating (A B, B A,
/// A B, …), so that drift in the shared machine's load falls on both alike; each round's pair
/// runs back to back, so their ratio is the steadiest figure.
///
/// Before each round, every Redis in `settle` rewrites its AOF and finishes: a rewrite forks
/// and copies the whole dataset, taking a core for seconds on these machines, and without this
/// one set off by a round falls on whichever side runs next. Each round then starts from a
/// compact AOF, and the rewrites its own writes set off count against it alone.
struct Turns {
    /// Events per second of each side (0 and 1), round by round.
    private(set) var rates: [[Double]] = [[], []]

    init(rounds: Int, settle: [RedisConnection], _ round: (_ side: Int, _ round: Int) throws -> Double) throws {
        for index in 0..<rounds {
            for side in index % 2 == 0 ? [0, 1] : [1, 0] {
                for redis in settle { try Self.rewriteAOF(redis) }
                rates[side].append(try round(side, index))
            }
        }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    func median(_ side: Int) -> Double { Self.median(rates[side]) }
    /// Side 0 over side 1, round by round, and their median.
    var ratios: [Double] { zip(rates[0], rates[1]).map { $0 / $1 } }
    var ratio: Double { Self.median(ratios) }

    /// "median of 3 rounds taking turns (2327, 2333, 2494)"
    func rounds(_ side: Int) -> String {
        "median of \(rates[side].count) rounds taking turns (" + rates[side].map { String(format: "%.0f", $0) }.joined(separator: ", ") + ")"
    }
    /// "1.000, 0.878, 0.919, median 0.919"
    var byRound: String {
        ratios.map { String(format: "%.3f", $0) }.joined(separator: ", ") + String(format: ", median %.3f", ratio)
    }

    /// BGREWRITEAOF, then waits (up to a minute) until no rewrite is under way or scheduled.
    private static func rewriteAOF(_ redis: RedisConnection) throws {
        func persistence() throws -> String { try redis.send("INFO", "persistence").string ?? "" }
        guard try persistence().contains("aof_enabled:1") else { return }
        _ = try? redis.send("BGREWRITEAOF")  // refused only while one is under way, which is waited for below
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let info = try persistence()
            if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw BenchError("an AOF rewrite still under way after a minute")
    }
}
