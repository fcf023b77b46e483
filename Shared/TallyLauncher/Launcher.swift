import Foundation
import Redis
#if canImport(Glibc)
import Glibc
#endif

/// The processes of a local stack: each started with its command line, waited for until it
/// answers, and stopped in the reverse order of their start.
package final class Launcher: @unchecked Sendable {
    // `@unchecked`: `processes` changes only in `start` and `stop…`, which the owner calls from
    // one thread at a time.

    /// Where the processes' output goes.
    package enum Logs: Sendable {
        /// `<directory>/<name>.log`, one file a process: benchmarks and tests.
        case files(in: URL)
        /// Each line on our stderr behind `[<name>] `, as `tally up` shows them. Each process
        /// is in a process group of its own, so a Ctrl-C reaches us alone and we stop them in
        /// order.
        case prefixed
    }

    package let logs: Logs
    /// The running (or exited, not yet stopped) processes by name, in the order they started.
    package private(set) var processes: [(name: String, process: ChildProcess)] = []

    package init(logs: Logs) {
        self.logs = logs
    }

    /// Starts `executable`; its environment is ours plus `environment`.
    @discardableResult
    package func start(_ name: String, _ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess {
        let process =
            switch logs {
            case .files(let directory):
                try ChildProcess(executable, arguments, environment: environment, output: .file(directory.appendingPathComponent("\(name).log")))
            case .prefixed:
                try ChildProcess(executable, arguments, environment: environment, output: .prefixed("[\(name)] "), ownProcessGroup: true)
            }
        processes.append((name, process))
        return process
    }

    /// Starts one of `stack`'s services (named after it unless `name` says otherwise, e.g.
    /// `scoring-2`), its command line followed by `options`, and waits until it answers.
    @discardableResult
    package func start(_ service: StackService, of stack: LocalStack, name: String? = nil, options: [String] = []) throws -> ChildProcess {
        let process = try start(
            name ?? service.rawValue, try Executables.tally(service.product), stack.arguments(for: service) + options,
            environment: stack.environment)
        if let address = stack.address(of: service) {
            try waitUntil(address, answeredBy: process) { stack.answers(service) }
        }
        return process
    }

    /// Starts every service of `stack` in order: notification, ingestion, `scoringWorkers`
    /// scoring workers (`scoring-1`, ...), leaderboard.
    package func startServices(of stack: LocalStack, scoringWorkers: Int) throws {
        try start(.notification, of: stack)
        try start(.ingestion, of: stack)
        for index in stride(from: 1, through: scoringWorkers, by: 1) {
            try start(.scoring, of: stack, name: "scoring-\(index)")
        }
        try start(.leaderboard, of: stack)
    }

    /// Starts `redis-server` and waits until it answers PING.
    @discardableResult
    package func startRedis(_ options: RedisServerOptions, name: String = "redis") throws -> ChildProcess {
        let process = try start(name, try Executables.installed("redis-server"), options.arguments)
        try waitUntilRedisAnswers(at: options.url, answeredBy: process)
        return process
    }

    /// Waits until the Redis at `url` answers PING (and fails at once if `process`, the one
    /// that should answer, exits).
    package func waitUntilRedisAnswers(at url: String, answeredBy process: ChildProcess? = nil) throws {
        try waitUntil("Redis at \(url)", answeredBy: process) { (try? RedisConnection(url: url).send("PING")) == .status("PONG") }
    }

    /// Polls `ready` until it holds; throws when `seconds` pass first, or at once, with its log,
    /// when `process` (the one that should answer) exits.
    package func waitUntil(_ what: String, seconds: Double = 20, answeredBy process: ChildProcess? = nil, _ ready: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !ready() {
            if let process, !process.isRunning {
                let name = processes.first { $0.process === process }?.name ?? what
                throw LaunchError.exited(name, status: process.wait(), output: process.output)
            }
            guard Date() < deadline else { throw LaunchError.noAnswer(what, within: seconds) }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// The first process that has exited without being stopped, if any.
    package var exited: (name: String, process: ChildProcess)? {
        processes.first { !$0.process.isRunning }
    }

    /// Throws, with the process's log, if one has exited without being stopped.
    /// Drops a process that was meant to end (a one-off command) from the ones `checkAlive`
    /// watches and `stop…` stops.
    package func forget(_ process: ChildProcess) {
        processes.removeAll { $0.process === process }
    }

    package func checkAlive() throws {
        if let (name, process) = exited {
            throw LaunchError.exited(name, status: process.wait(), output: process.output)
        }
    }

    /// Stops the processes whose name `matches` (SIGTERM, SIGKILL after `seconds`), last started first.
    package func stop(within seconds: Double = 15, where matches: (String) -> Bool, announce: (String) -> Void = { _ in }) {
        for (name, process) in processes.reversed() where matches(name) {
            if process.isRunning {
                announce(name)
                process.stop(within: seconds)
            }
        }
        processes.removeAll { matches($0.name) }
    }

    /// Stops every process, last started first; `announce` hears the name of each one still running.
    package func stopAll(within seconds: Double = 15, announce: (String) -> Void = { _ in }) {
        stop(within: seconds, where: { _ in true }, announce: announce)
    }
}
