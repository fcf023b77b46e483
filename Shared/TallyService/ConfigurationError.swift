import Foundation
import Logging
import Redis
import TallyDomain

/// An option whose value cannot be used, named as the user typed it: `--heartbeat-ms`.
package struct ConfigurationError: Error, CustomStringConvertible {
    /// The flag without its dashes: `heartbeat-ms`.
    package let option: String
    package let problem: String

    package init(option: String, problem: String) {
        self.option = option
        self.problem = problem
    }

    package var description: String { "--\(option): \(problem)" }
}

/// The checks every service's configuration makes of its fields, each naming its flag.
package enum Check {
    package static func atLeast(_ minimum: Int, _ value: Int, _ option: String) throws(ConfigurationError) {
        guard value >= minimum else { throw ConfigurationError(option: option, problem: "must be at least \(minimum), got \(value)") }
    }

    package static func within(_ range: ClosedRange<Int>, _ value: Int, _ option: String) throws(ConfigurationError) {
        guard range.contains(value) else {
            throw ConfigurationError(option: option, problem: "must be \(range.lowerBound) to \(range.upperBound), got \(value)")
        }
    }

    /// A duration that a `-ms` flag sets.
    package static func positive(_ value: Duration, _ option: String) throws(ConfigurationError) {
        guard value > .zero else { throw ConfigurationError(option: option, problem: "must be at least 1, got \(value.milliseconds)") }
    }

    /// A TCP port; 0 lets the system choose one.
    package static func port(_ value: Int, _ option: String) throws(ConfigurationError) {
        try within(0...65_535, value, option)
    }

    /// A ZeroMQ endpoint such as `tcp://*:5555` or `ipc:///run/tally.sock`: a transport and an
    /// address, and for TCP a port (or `*`). What else libzmq minds, binding or connecting says.
    package static func endpoint(_ value: String, _ option: String) throws(ConfigurationError) {
        guard let scheme = value.range(of: "://"), scheme.lowerBound > value.startIndex, scheme.upperBound < value.endIndex else {
            throw ConfigurationError(option: option, problem: "\(value.quoted) is not a ZeroMQ endpoint such as tcp://127.0.0.1:5556")
        }
        if value.hasPrefix("tcp://") {
            let port = value.split(separator: ":").last.map(String.init) ?? ""
            guard port == "*" || Int(port).map({ (0...65_535).contains($0) }) == true else {
                throw ConfigurationError(option: option, problem: "\(value.quoted) has no port (tcp://host:port, or tcp://host:* for any)")
            }
        }
    }

    package static func endpoints(_ values: [String], _ option: String) throws(ConfigurationError) {
        for value in values { try endpoint(value, option) }
    }

    /// A directory that exists, when one is given.
    package static func directory(_ path: String?, _ option: String) throws(ConfigurationError) {
        guard let path else { return }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigurationError(option: option, problem: "no directory at \(path.quoted)")
        }
    }

    package static func logLevel(_ value: String) throws(ConfigurationError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: value.lowercased()) else {
            throw ConfigurationError(option: "log-level", problem: "must be one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }

    /// `--redis-url`, read.
    package static func redisURL(_ url: String) throws(ConfigurationError) -> RedisConfiguration {
        do {
            return try RedisConfiguration(url: url)
        } catch {
            let problem = error.message.hasPrefix("redis-url: ") ? String(error.message.dropFirst("redis-url: ".count)) : error.message
            throw ConfigurationError(option: "redis-url", problem: problem)
        }
    }
}
