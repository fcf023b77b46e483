import Foundation
import Synchronization

/// A socket owned by a dedicated I/O thread, for async code: messages arrive as an async
/// sequence and `send` queues without blocking. The cooperative thread pool never waits on
/// libzmq, and the socket is only ever touched by its thread.
///
/// Making one starts nothing: `run()` starts the I/O thread and returns once it has ended,
/// after `close()` or when the task running it is cancelled. Messages sent before `run()` wait
/// in the outbox.
///
/// Inbound flow control: once `receiveBuffer` messages wait unread, the thread stops reading
/// the socket, so ZeroMQ's own high-water marks push back on the peers.
///
/// A socket may also answer some messages on its own thread (an `InlineAnswers`): what it
/// reads at once is handed over as one batch, and what the handler answers is sent straight
/// back, with no hop to the cooperative pool and back; the rest goes to `messages` as usual. A
/// handler may answer later, when something it waits for is ready (a Redis connection's
/// replies): the thread polls the handler's file descriptors beside the socket, so it goes on
/// reading and sending meanwhile.
public final class AsyncSocket: Sendable {
    public let type: SocketType
    /// The endpoint the socket last bound, with the port the system chose.
    public let lastEndpoint: String
    public let messages: Messages

    private let state: Mutex<State>
    private let waker = Waker()
    private let receiveBuffer: Int
    private let inline: (any InlineAnswers)?
    private let handoff: Handoff
    private let continuation: AsyncStream<[Data]>.Continuation
    private let errors: ErrorLog

    /// Told about a failure the I/O thread meets (`send`, `receive`, `poll`), once until the
    /// same operation works again; nil: such failures go unreported. A failed poll ends the thread.
    public typealias ErrorLog = (@Sendable (_ what: String, _ error: any Error) -> Void)?
    /// The most messages handed to the inline handler at once.
    private static let inlineBatch = 64

    private struct State {
        var outbox: [[Data]] = []
        var unread = 0
        var started = false
        var closing = false
        var finished = false
        var whenFinished: [CheckedContinuation<Void, Never>] = []
    }

    /// Takes over a configured (bound or connected) socket; from now on only the I/O thread uses it.
    public init(_ socket: consuming Socket, receiveBuffer: Int = 10_000, inline: (any InlineAnswers)? = nil, errors: ErrorLog = nil) {
        let (stream, continuation) = AsyncStream.makeStream(of: [Data].self)
        self.type = socket.type
        self.lastEndpoint = socket.lastEndpoint
        self.receiveBuffer = receiveBuffer
        self.inline = inline
        self.errors = errors
        self.state = Mutex(State())
        self.messages = Messages(stream: stream)
        self.continuation = continuation
        self.handoff = Handoff(socket)
        self.messages.owner.set(self)
    }

    /// Runs the I/O thread until `close()` or cancellation; returns once the socket is closed.
    /// A socket runs once: a second call returns at once.
    public func run() async {
        let first = state.withLock { state in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        let name = "zmq-\(type)"
        let thread = Thread { [self] in
            Thread.nameCurrent(name)
            self.serveThenFinish()
        }
        thread.start()
        await withTaskCancellationHandler {
            await finished()
        } onCancel: {
            beginClosing()
        }
    }

    /// Queues a message to send; returns at once. After `close`, messages are dropped.
    public func send(_ frames: [Data]) {
        let queued = state.withLock { state in
            guard !state.closing else { return false }
            state.outbox.append(frames)
            return state.outbox.count == 1
        }
        if queued { waker.wake() }
    }

    /// Stops the thread, which sends what is queued (within the socket's linger) and closes
    /// the socket; returns once it has. A socket that never ran is closed at once.
    public func close() async {
        beginClosing()
        await finished()
    }

    private func beginClosing() {
        let neverRan = state.withLock { state in
            state.closing = true
            defer { state.started = true }
            return !state.started
        }
        if neverRan {
            _ = handoff.take()  // closes it
            finish()
        } else {
            waker.wake()
        }
    }

    private func finished() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if state.finished { return true }
                state.whenFinished.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    private func finish() {
        continuation.finish()
        let waiting = state.withLock { state in
            state.closing = true  // however the thread ended (a failed poll too): later sends are dropped
            state.finished = true
            defer { state.whenFinished = [] }
            return state.whenFinished
        }
        for waiter in waiting { waiter.resume() }
    }

    fileprivate func consumed() {
        let resume = state.withLock { state in
            state.unread -= 1
            return state.unread == receiveBuffer - 1
        }
        if resume { waker.wake() }
    }

    private func serveThenFinish() {
        do {
            if let socket = handoff.take() { serve(socket, continuation) }
        }  // the socket closes here, before anyone waiting on `close()` resumes
        finish()
    }

    private func serve(_ socket: Socket, _ continuation: AsyncStream<[Data]>.Continuation) {
        var poller = Poller()
        let socketItem = poller.add(socket)
        poller.add(fileDescriptor: waker.fileDescriptor)
        var unsent: [[Data]] = []
        // Each kind of failure is reported once, until the same operation works again.
        var failing: Set<String> = []
        func note(_ what: String, _ error: (any Error)?) {
            if let error {
                if failing.insert(what).inserted { errors?(what, error) }
            } else if !failing.isEmpty {
                failing.remove(what)
            }
        }

        while true {
            let (closing, canRead) = state.withLock { state in
                unsent.append(contentsOf: state.outbox)
                state.outbox.removeAll(keepingCapacity: true)
                return (state.closing, state.unread < receiveBuffer && inline?.takesMore != false)
            }
            send(&unsent, on: socket, note: note)
            if closing { break }

            var events: PollEvents = []
            if canRead { events.insert(.readable) }
            if !unsent.isEmpty { events.insert(.writable) }
            poller.setEvents(events, at: socketItem)
            let waitsOn = inline?.fileDescriptors ?? []
            poller.keepFirst(2)
            for fd in waitsOn { poller.add(fileDescriptor: fd) }
            let ready: [PollEvents]
            do {
                ready = try poller.poll(timeout: Self.milliseconds(inline?.timeout))
            } catch {
                note("poll", error)
                break
            }
            if ready[1].contains(.readable) { waker.drain() }
            if let inline {
                unsent += inline.collect(readable: zip(waitsOn, ready.dropFirst(2)).filter { $0.1.contains(.readable) }.map(\.0))
            }
            if ready[socketItem].contains(.readable) {
                unsent += receive(from: socket, into: continuation, note: note)
            }
        }
        // What the handler has in flight is answered first, for a little while.
        if let inline {
            let deadline = ContinuousClock.now + .seconds(1)
            while !inline.fileDescriptors.isEmpty, ContinuousClock.now < deadline {
                let waitsOn = inline.fileDescriptors
                var drain = Poller()
                for fd in waitsOn { drain.add(fileDescriptor: fd) }
                guard let ready = try? drain.poll(timeout: Self.milliseconds(min(inline.timeout ?? .seconds(1), deadline - .now))) else { break }
                unsent += inline.collect(readable: zip(waitsOn, ready).filter { $0.1.contains(.readable) }.map(\.0))
            }
            unsent += inline.collect(readable: [])
        }
        // Whatever is still unsent goes into the socket for libzmq to flush within the linger.
        for frames in unsent {
            do { _ = try socket.send(frames, dontWait: true) } catch { note("send", error) }
        }
    }

    /// Sends what the socket takes now; keeps the rest for when it is writable.
    private func send(_ unsent: inout [[Data]], on socket: Socket, note: (String, (any Error)?) -> Void) {
        var sent = 0
        while sent < unsent.count {
            do {
                guard try socket.send(unsent[sent], dontWait: true) else { break }
                note("send", nil)
            } catch {
                // A peer that is gone (ROUTER_MANDATORY) or a message refused: drop it.
                note("send", error)
            }
            sent += 1
        }
        unsent.removeFirst(sent)
    }

    /// A poll's timeout in whole milliseconds, rounded up; -1 for none.
    private static func milliseconds(_ timeout: Duration?) -> Int {
        guard let timeout else { return -1 }
        let (seconds, attoseconds) = timeout.components
        return max(0, Int(seconds) * 1_000 + Int((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000))
    }

    /// Reads what is waiting, up to the unread limit; returns the replies the inline handler made at once.
    private func receive(
        from socket: Socket, into continuation: AsyncStream<[Data]>.Continuation, note: (String, (any Error)?) -> Void
    ) -> [[Data]] {
        func next() -> [Data]? {
            do {
                let frames = try socket.receive(dontWait: true)
                if frames != nil { note("receive", nil) }
                return frames
            } catch {
                note("receive", error)
                return nil
            }
        }
        guard let inline else {
            while true {
                let room = state.withLock { $0.unread < receiveBuffer }
                guard room, let frames = next() else { return [] }
                state.withLock { $0.unread += 1 }
                continuation.yield(frames)
            }
        }
        // One batch, then back to the loop, which sends its replies before reading more.
        let room = state.withLock { receiveBuffer - $0.unread }
        var batch: [[Data]] = []
        while batch.count < min(room, Self.inlineBatch), let frames = next() {
            batch.append(frames)
        }
        guard !batch.isEmpty else { return [] }
        let answers = inline.answer(batch)
        precondition(answers.count == batch.count, "InlineAnswers.answer must return one answer per message")
        var replies: [[Data]] = []
        for (frames, answer) in zip(batch, answers) {
            switch answer {
            case .reply(let reply): replies.append(reply)
            case .later: continue
            case .pass:
                state.withLock { $0.unread += 1 }
                continuation.yield(frames)
            }
        }
        return replies
    }
}

/// What answers some of a socket's messages on the socket's own thread (`AsyncSocket`); only
/// that thread calls it, so it needs no lock of its own.
public protocol InlineAnswers: AnyObject, Sendable {
    /// What to do with each message of a batch, in order.
    func answer(_ batch: [[Data]]) -> [InlineAnswer]
    /// The file descriptors the handler waits on (to read) for the answers it owes.
    var fileDescriptors: [Int32] { get }
    /// How long a poll may wait before the handler has something to do anyway (a deadline of
    /// its own); nil: until something is ready.
    var timeout: Duration? { get }
    /// Whether the socket may read more messages now; while false it reads none, and libzmq's
    /// high-water marks push back on the peers.
    var takesMore: Bool { get }
    /// After each poll, with those of `fileDescriptors` that are readable: the replies now ready.
    func collect(readable: [Int32]) -> [[Data]]
}

/// What an `InlineAnswers` does with one message.
public enum InlineAnswer: Sendable {
    /// This reply is sent back now.
    case reply([Data])
    /// The handler answers it later, from `collect`.
    case later
    /// The message goes to `messages`, for the socket's owner to answer.
    case pass
}

extension AsyncSocket {
    /// The messages received, in order. One consumer iterates it.
    public struct Messages: AsyncSequence, Sendable {
        let stream: AsyncStream<[Data]>
        let owner = WeakOwner()

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(base: stream.makeAsyncIterator(), owner: owner)
        }

        public struct AsyncIterator: AsyncIteratorProtocol {
            var base: AsyncStream<[Data]>.AsyncIterator
            let owner: WeakOwner

            public mutating func next() async -> [Data]? {
                let frames = await base.next()
                if frames != nil { owner.socket?.consumed() }
                return frames
            }
        }
    }

    /// Lets the message sequence report consumption without keeping the socket alive.
    final class WeakOwner: Sendable {
        private let reference = Mutex<Weak>(Weak())
        private struct Weak { weak var socket: AsyncSocket? }
        func set(_ socket: AsyncSocket) { reference.withLock { $0.socket = socket } }
        var socket: AsyncSocket? { reference.withLock { $0.socket } }
    }
}

/// Moves a socket to the thread that will own it. `@unchecked Sendable` is safe: the caller
/// gives the socket up in `init`, and `take()` runs once: on the new thread, or in `close()` when
/// the socket never ran (the state's `started` flag, set under its mutex, decides which); thread
/// start is a full memory barrier,
/// which is what libzmq asks for when a socket changes threads.
private final class Handoff: @unchecked Sendable {
    private var socket: Socket?
    init(_ socket: consuming Socket) { self.socket = socket }
    func take() -> Socket? {
        defer { socket = nil }
        return socket
    }
}
