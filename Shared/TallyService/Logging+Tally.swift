import Logging

/// Logs go to stderr, one line each, with data as key=value metadata.
package func bootstrapLogging(level: String) throws {
    guard let level = Logger.Level(rawValue: level.lowercased()) else {
        throw ConfigurationError(option: "log-level", problem: "must be one of trace, debug, info, notice, warning, error, critical")
    }
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

/// An option whose value cannot be used, named as the user typed it.
package struct ConfigurationError: Error, CustomStringConvertible {
    package let option: String
    package let problem: String

    package init(option: String, problem: String) {
        self.option = option
        self.problem = problem
    }

    package var description: String { "--\(option): \(problem)" }
}
