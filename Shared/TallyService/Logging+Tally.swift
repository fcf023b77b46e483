import Logging

/// Logs go to stderr, one line each, with data as key=value metadata.
package func bootstrapLogging(level: String) throws {
    let level = try Check.logLevel(level)
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
