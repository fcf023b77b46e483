import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// What an HTTP server allows: how many connections may be open at once, and how long one may
/// send nothing before it is closed (a WebSocket's answers to pings count as sending).
package struct ConnectionLimits: Sendable {
    package var maxConnections: Int
    package var idleTimeout: Duration

    package init(maxConnections: Int, idleTimeout: Duration) {
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
    }
}

/// A server's open connections against its cap; `refused` and `idle` are told each time a
/// connection is closed over the cap or for idling (for `/metrics`).
package final class ConnectionCount: Sendable {
    private let open = Atomic<Int>(0)
    private let limit: Int
    private let refused: @Sendable () -> Void
    fileprivate let idle: @Sendable () -> Void

    package init(limit: Int, refused: @escaping @Sendable () -> Void, idle: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.refused = refused
        self.idle = idle
    }

    /// Counts a new connection in; false (and counted as refused) when the server has its cap.
    fileprivate func admit() -> Bool {
        if open.add(1, ordering: .relaxed).newValue <= limit { return true }
        open.subtract(1, ordering: .relaxed)
        refused()
        return false
    }

    fileprivate func release() { open.subtract(1, ordering: .relaxed) }
}

/// A server's child channel (HTTP/1, with or without the WebSocket upgrade) with the limits in
/// front: a connection over the cap is closed at once, before a request is read from it, and
/// one that sends nothing for the idle timeout is closed, whether it is before its first request,
/// between requests or a WebSocket. Hummingbird's own idle timeout (`HTTP1Channel.Configuration`)
/// does not cover the upgrade channel before its first request nor after the upgrade, so the
/// timer here is NIO's `IdleStateHandler` at the head of the pipeline, for every phase alike.
package struct LimitedChildChannel<Inner: ServerChildChannel>: ServerChildChannel {
    package typealias Value = Inner.Value
    let inner: Inner
    let count: ConnectionCount
    let idleTimeout: Duration

    package init(_ inner: Inner, count: ConnectionCount, idleTimeout: Duration) {
        self.inner = inner
        self.count = count
        self.idleTimeout = idleTimeout
    }

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard count.admit() else {
            // Closed as soon as it is active, rather than failing the set-up (a failed child
            // channel set-up would end the server's accept loop).
            do { try channel.pipeline.syncOperations.addHandler(CloseWhenActive()) } catch { channel.close(promise: nil) }
            return inner.setup(channel: channel, logger: logger)
        }
        let count = self.count
        channel.closeFuture.whenComplete { _ in count.release() }
        do {
            try channel.pipeline.syncOperations.addHandlers([
                IdleStateHandler(readTimeout: TimeAmount(idleTimeout)), IdleConnectionCloser(count: count),
            ])
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    package func handle(value: Value, logger: Logger) async {
        // Over the cap: closed here, once the channel is registered (a close during set-up
        // comes too early to take effect), without reading a request.
        if (try? await value.channel.pipeline.handler(type: CloseWhenActive.self).get()) != nil {
            try? await value.channel.close()
            return
        }
        await inner.handle(value: value, logger: logger)
    }
}

/// Closes the connection when `IdleStateHandler` says nothing was read for the timeout.
private final class IdleConnectionCloser: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let count: ConnectionCount

    init(count: ConnectionCount) { self.count = count }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case IdleStateHandler.IdleStateEvent.read = event {
            count.idle()
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Closes a connection over the cap the moment it is active.
private final class CloseWhenActive: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.close(promise: nil) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }
}
