import Foundation
import Logging
import Redis
import ServiceLifecycle

/// Runs a blocking loop (a ZeroMQ poll loop) on a thread of its own as a `Service`. Graceful
/// shutdown or cancellation triggers the loop's `StopSignal`; the service ends when the loop
/// returns.
package struct ThreadService: Service {
    package let name: String
    private let body: @Sendable (StopSignal) throws -> Void

    package init(name: String, _ body: @escaping @Sendable (StopSignal) throws -> Void) {
        self.name = name
        self.body = body
    }

    package func run() async throws {
        let stop = StopSignal()
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let thread = Thread { [body, name] in
                        Thread.nameCurrent(name)
                        continuation.resume(with: Result { try body(stop) })
                    }
                    thread.start()
                }
            } onGracefulShutdown: {
                stop.stop()
            }
        } onCancel: {
            stop.stop()
        }
    }
}

/// Runs services until SIGTERM or SIGINT, then shuts them down gracefully, last first.
package func runServices(_ services: [any Service], logger: Logger) async throws {
    let group = ServiceGroup(
        configuration: ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
    try await group.run()
}

/// Ends the process `seconds` after a graceful shutdown began if it has not ended by then.
/// Some connections cannot be shut down gracefully: a browser's preconnected socket that never
/// sends a request keeps a WebSocket-upgrading server waiting forever (hummingbird-websocket
/// issue 61). List it last among the services, so that its shutdown is triggered first.
package struct ShutdownDeadline: Service {
    package let seconds: Double
    package let logger: Logger

    package init(seconds: Double, logger: Logger) {
        self.seconds = seconds
        self.logger = logger
    }

    package func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return  // cancelled: the group is going away anyway
        }
        let (seconds, logger) = (seconds, logger)
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: seconds)
            logger.warning("connections still open \(seconds) s after shutdown began; exiting anyway")
            exit(0)
        }
    }
}
