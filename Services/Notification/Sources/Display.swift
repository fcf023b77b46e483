import TallyStore
import Synchronization

/// One connected WebSocket display's outbox. The hub offers it messages without ever
/// waiting; the connection's writer takes them as fast as the display reads. When more than
/// `capacity` wait, the backlog is thrown away and the display is marked behind: its writer
/// then sends fresh snapshots instead, which say everything the backlog would have.
package final class Display: Sendable {
    package let id: Int
    package let org: String
    package let boards: [String]
    /// The org token the stream was opened with, looked up again while it is open (nil: the
    /// admin token or open reads, which nothing revokes).
    package let token: TokenStore.Lookup?
    private let capacity: Int
    private let state = Mutex(State())

    private struct State {
        var queue: [String] = []
        var behind = false
        var closed = false
        /// Why the server ends this display's stream, once it does (`end(reason:code:)`).
        var ending: (code: UInt16, reason: String)?
        var waiter: CheckedContinuation<Void, Never>?
    }

    /// What the writer should do next.
    package enum Work: Sendable {
        case send([String])
        /// The backlog was dropped: send snapshots of every board (`Hub.snapshots(for:)`).
        case resnapshot
        /// The server ends the stream: close it with this code and reason.
        case end(code: UInt16, reason: String)
    }

    package init(id: Int, org: String, boards: [String], token: TokenStore.Lookup? = nil, capacity: Int) {
        self.id = id
        self.org = org
        self.boards = boards
        self.token = token
        self.capacity = capacity
    }

    /// Queues a message; false when the queue was full and the display is now behind.
    @discardableResult
    package func offer(_ message: String) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.closed else { return (true, nil) }
            var accepted = true
            if state.behind {
                // Snapshots are coming; anything before them is moot.
            } else if state.queue.count >= capacity {
                state.queue.removeAll()
                state.behind = true
                accepted = false
            } else {
                state.queue.append(message)
            }
            defer { state.waiter = nil }
            return (accepted, state.waiter)
        }
        waiter?.resume()
        return accepted
    }

    /// Waits for work; nil once closed.
    package func next() async -> Work? {
        while true {
            let taken = state.withLock { state -> Work?? in
                if state.closed { return .some(nil) }
                if let (code, reason) = state.ending {
                    state.closed = true
                    return .some(.end(code: code, reason: reason))
                }
                if state.behind {
                    state.behind = false
                    return .some(.resnapshot)
                }
                guard !state.queue.isEmpty else { return .none }
                defer { state.queue.removeAll(keepingCapacity: true) }
                return .some(.send(state.queue))
            }
            if let taken { return taken }
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state in
                    if state.closed || state.ending != nil || state.behind || !state.queue.isEmpty { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }

    /// Asks the writer to close the stream with `code` and `reason`: 1013 (try again later)
    /// makes a display reconnect; 4401 tells it its token is no longer valid.
    package func end(reason: String, code: UInt16 = 1013) {
        let waiter = state.withLock { state in
            state.ending = state.ending ?? (code, reason)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Ends `next()`; called when the connection closes.
    package func close() {
        let waiter = state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
