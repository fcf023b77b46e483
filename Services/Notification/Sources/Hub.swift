import Foundation
import TallyStore
import Logging
import Prometheus
import ServiceLifecycle
import TallyDomain
import ZeroMQ

/// The boards displays watch, and the displays watching them. For each watched board it keeps
/// the top as displays last saw it and a sequence number; a change notice marks the board
/// dirty, and at most one read per `interval` (never later than `interval` after the change)
/// turns it into an `update` for every watcher. A board nobody watches is forgotten.
///
/// Only boards that exist are read: a board id the org's rules define but that has no data yet
/// (an invented org, a board nobody scored on) costs one check in Redis, gets an empty snapshot,
/// and then sleeps, costing nothing, until a change notice names it. At most `limits.maxBoards`
/// boards are read; a subscription over that is not watched, and a WebSocket display that
/// would go over it, or over the display caps, is refused. Each refusal is counted.
///
/// The reads are structured work of the hub's own `run()`: a board that needs reading is
/// queued to it, and it runs each read (after the wait its interval asks for) as a child task.
package actor Hub: Service {
    struct BoardKey: Hashable, Sendable {
        let org: String
        let board: String
        var topic: String { "\(org)/\(board)" }
    }

    private enum Refresh {
        case idle, scheduled, reading
        /// Reading, and changed again since the read began: read once more after.
        case readingDirty
    }

    /// Why a display or subscription was refused; the raw value is the `/metrics` label.
    package enum Refusal: String, CaseIterable, Sendable {
        case watchedBoards = "watched_boards"
        case displays
        case orgDisplays = "org_displays"
        case streamBoards = "stream_boards"
        case connections
    }

    /// Entries (boards read, and dormant ones waiting for data) kept per board the cap allows.
    static let entriesPerBoard = 10

    /// The hub's caps (see `NotificationConfiguration`).
    struct Limits: Sendable {
        var maxBoards: Int
        var maxDisplays: Int
        var maxOrgDisplays: Int
    }

    private struct Watched {
        /// Which incarnation of the board's entry this is: a board forgotten and watched again
        /// is a new one, and a read scheduled for the old one must not touch it.
        let generation: Int
        var seq = 0
        var view: BoardView?
        /// Whether some ZeroMQ display subscribes to the board's topic.
        var zmqWatched = false
        var displays: Set<Int> = []
        var refresh = Refresh.idle
        /// Whether Redis was asked if the board exists (a WebSocket display's board is checked
        /// before it connects, a ZeroMQ topic by its first read).
        var checked = false
        /// Checked and found to have no data: not read again until a change notice names it.
        var dormant = false
        var lastRead: ContinuousClock.Instant?
        /// Waiting for the first read to get their snapshot.
        var waitingDisplays: Set<Int> = []
        var zmqWaiting = false
        var isWatched: Bool { zmqWatched || !displays.isEmpty }
    }

    private var boards: [BoardKey: Watched] = [:]
    /// The boards that are read (checked, not dormant): at most `limits.maxBoards`.
    private var live: Set<BoardKey> = []
    private var orgDisplays: [String: Int] = [:]
    private let limits: Limits
    private var generations = 0
    /// Topics ZeroMQ displays subscribe to (board and `_events` topics).
    private var zmqTopics: Set<String> = []
    private var displays: [Int: Display] = [:]
    private var nextDisplayID = 1
    private var readFailing = false
    private let source: BoardSource
    private let publisher: AsyncSocket
    private let interval: Duration
    private let metrics: NotificationMetrics
    private let logger: Logger
    private let encoder = JSONEncoder()
    /// Boards to read, for `run()`.
    private nonisolated let refreshes: AsyncStream<RefreshRequest>
    private nonisolated let refreshQueue: AsyncStream<RefreshRequest>.Continuation

    private struct RefreshRequest: Sendable {
        let key: BoardKey
        let generation: Int
        let delay: Duration
    }

    init(
        source: BoardSource, publisher: AsyncSocket, interval: Duration, limits: Limits, metrics: NotificationMetrics,
        logger: Logger
    ) {
        self.source = source
        self.limits = limits
        self.publisher = publisher
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
        (refreshes, refreshQueue) = AsyncStream.makeStream(of: RefreshRequest.self)
    }

    /// Runs the board reads the hub asks for until a graceful shutdown or cancellation; reads
    /// still waiting then are cancelled.
    package nonisolated func run() async {
        await withDiscardingTaskGroup { group in
            for await request in refreshes.cancelOnGracefulShutdown() {
                group.addTask {
                    if request.delay > .zero {
                        do { try await Task.sleep(for: request.delay) } catch { return }
                    }
                    await self.refresh(request.key, generation: request.generation)
                }
            }
            group.cancelAll()
        }
    }

    // MARK: Watchers

    /// A ZeroMQ display subscribed to `<org>/<board>`: it gets a snapshot, then updates.
    /// Every subscribe arrives (XPUB_VERBOSE), an unsubscribe only when the topic's last
    /// subscriber leaves, so a topic is either watched or not.
    func subscribed(topic: String) {
        guard let key = Self.key(topic: topic) else { return }
        // Dormant boards cost no reads, but each topic is an entry here: bounded too, so that
        // one subscriber inventing orgs cannot grow this process without end.
        if !zmqTopics.contains(topic) && zmqTopics.count >= limits.maxBoards * Self.entriesPerBoard {
            metrics.refused(.watchedBoards)
            return
        }
        zmqTopics.insert(topic)
        metrics.zmqSubscriptions.record(Int64(zmqTopics.count))
        guard key.board != "_events" else { return }
        watch(key) { $0.zmqWatched = true }
        snapshot(key, zmq: true, display: nil)
    }

    func unsubscribed(topic: String) {
        guard let key = Self.key(topic: topic) else { return }
        zmqTopics.remove(topic)
        metrics.zmqSubscriptions.record(Int64(zmqTopics.count))
        guard key.board != "_events", var watched = boards[key] else { return }
        watched.zmqWatched = false
        store(watched, at: key)
    }

    /// The board's entry, made if nobody watched it yet, changed by `change`.
    private func watch(_ key: BoardKey, _ change: (inout Watched) -> Void) {
        if boards[key] == nil {
            generations += 1
            boards[key] = Watched(generation: generations)
        }
        change(&boards[key]!)
    }

    /// A WebSocket display for `boards` of `org` (each with whether it exists, as checked):
    /// snapshots of each come first. Refused when the display would go over a cap.
    func connect(
        org: String, boards checked: [(name: String, exists: Bool)], token: TokenStore.Lookup? = nil, capacity: Int
    ) -> Result<Display, RefusedDisplay> {
        if displays.count >= limits.maxDisplays { return refuse(.displays, "displays: this server has its \(limits.maxDisplays); try again later") }
        if orgDisplays[org, default: 0] >= limits.maxOrgDisplays {
            return refuse(.orgDisplays, "displays: this org has its \(limits.maxOrgDisplays); try again later")
        }
        let added = checked.filter { $0.exists && !live.contains(BoardKey(org: org, board: $0.name)) }.count
        if live.count + added > limits.maxBoards {
            return refuse(.watchedBoards, "boards: this server watches its \(limits.maxBoards); try again later")
        }
        let display = Display(id: nextDisplayID, org: org, boards: checked.map(\.name), token: token, capacity: capacity)
        nextDisplayID += 1
        displays[display.id] = display
        orgDisplays[org, default: 0] += 1
        metrics.displays.increment()
        for (name, exists) in checked {
            let key = BoardKey(org: org, board: name)
            watch(key) { $0.displays.insert(display.id) }
            if !boards[key]!.checked {
                boards[key]!.checked = true
                if exists { makeLive(key) } else { makeDormant(key) }
            } else if exists && boards[key]!.dormant {
                wake(key)
            }
            snapshot(key, zmq: false, display: display.id)
        }
        return .success(display)
    }

    /// Why `connect` refused a display: the close reason it is sent.
    struct RefusedDisplay: Error {
        let reason: String
    }

    private func refuse(_ refusal: Refusal, _ reason: String) -> Result<Display, RefusedDisplay> {
        metrics.refused(refusal)
        logger.notice("display refused", metadata: ["reason": "\(refusal.rawValue)"])
        return .failure(RefusedDisplay(reason: reason))
    }

    func disconnect(_ display: Display) {
        guard displays.removeValue(forKey: display.id) != nil else { return }
        orgDisplays[display.org, default: 1] -= 1
        if orgDisplays[display.org] == 0 { orgDisplays[display.org] = nil }
        metrics.displays.decrement()
        for name in display.boards {
            let key = BoardKey(org: display.org, board: name)
            guard var watched = boards[key] else { continue }
            watched.displays.remove(display.id)
            watched.waitingDisplays.remove(display.id)
            store(watched, at: key)
        }
    }

    /// The open displays that hold an org token, for `TokenWatch` to check again.
    func heldTokens() -> [(Display, TokenStore.Lookup)] {
        displays.values.compactMap { display in display.token.map { (display, $0) } }
    }

    /// A display asked for a fresh snapshot of one of its boards (after a gap).
    func resync(_ display: Display, board: String) {
        snapshot(BoardKey(org: display.org, board: board), zmq: false, display: display.id)
    }

    /// A display fell behind and lost its backlog: the snapshots of its boards, for its
    /// writer to send straight away (past its outbox, which may be smaller than the number
    /// of boards). A board still waiting for its first read sends its snapshot when it has it.
    func snapshots(for display: Display) -> [String] {
        display.boards.compactMap { board in
            let key = BoardKey(org: display.org, board: board)
            guard let watched = boards[key], watched.view != nil else {
                snapshot(key, zmq: false, display: display.id)
                return nil
            }
            return String(decoding: encode(Self.snapshot(key, watched)), as: UTF8.self)
        }
    }

    // MARK: Changes

    /// Scoring committed changes to these boards of `org`.
    func changed(org: String, boards names: some Sequence<String>) {
        for name in names {
            let key = BoardKey(org: org, board: name)
            guard let watched = boards[key] else { continue }
            if watched.dormant { wake(key) } else { markDirty(key) }
        }
    }

    /// Re-reads every board that is read: catches a new period at midnight, and anything whose
    /// notice was lost (notices are fire-and-forget). Dormant boards wait for a notice.
    func sweep() {
        for key in live { markDirty(key) }
    }

    // MARK: Existence

    private func makeLive(_ key: BoardKey) {
        boards[key]!.dormant = false
        live.insert(key)
        metrics.boards.record(Int64(live.count))
    }

    /// No data yet: an empty view (its period from the rules, no Redis), and no reads.
    private func makeDormant(_ key: BoardKey) {
        boards[key]!.dormant = true
        if boards[key]!.view == nil {
            boards[key]!.view = source.emptyView(org: key.org, board: key.board)
            boards[key]!.seq = 1
        }
    }

    /// A dormant board has data now: read it, under the cap. Over it, the board stays dormant
    /// (counted), and its WebSocket displays are closed with the reason, so that a TV does not
    /// sit on an empty board: it reconnects, and is told while the server is full.
    private func wake(_ key: BoardKey) {
        guard live.count < limits.maxBoards else {
            metrics.refused(.watchedBoards)
            for id in boards[key]?.displays ?? [] {
                displays[id]?.end(reason: "boards: this server watches its \(limits.maxBoards); try again later")
            }
            return
        }
        makeLive(key)
        markDirty(key)
    }

    /// A message for the org's `_events` channel: to ZeroMQ subscribers and the org's displays.
    func event(org: String, json: Data) {
        publisher.send([Data("\(org)/_events".utf8), json])
        let text = String(decoding: json, as: UTF8.self)
        for display in displays.values where display.org == org {
            offer(text, to: display)
        }
    }

    // MARK: Reading and publishing

    private func markDirty(_ key: BoardKey) {
        guard var watched = boards[key] else { return }
        switch watched.refresh {
        case .scheduled, .readingDirty: return
        case .reading: watched.refresh = .readingDirty
        case .idle:
            watched.refresh = .scheduled
            let now = ContinuousClock.now
            let delay = watched.lastRead.map { max(.zero, $0 + interval - now) } ?? .zero
            refreshQueue.yield(RefreshRequest(key: key, generation: watched.generation, delay: delay))
        }
        boards[key] = watched
    }

    private func refresh(_ key: BoardKey, generation: Int) async {
        guard boards[key]?.generation == generation else { return }
        boards[key]!.refresh = .reading
        boards[key]!.lastRead = .now
        if !boards[key]!.checked {
            guard await check(key, generation: generation) else { return }
        }
        let result: Result<BoardView, any Error>
        do {
            result = .success(try await source.read(org: key.org, board: key.board))
        } catch {
            result = .failure(error)
        }
        // The actor may have changed while the read was out.
        guard var watched = boards[key], watched.generation == generation else { return }
        let again = watched.refresh == .readingDirty
        watched.refresh = .idle

        switch result {
        case .failure(let error as StoreError) where error.code == .notFound || error.code == .invalid:
            forget(key, watched, error)
            return
        case .failure(let error):
            if !readFailing { logger.warning("board read failed; retrying", metadata: ["board": "\(key.topic)", "error": "\(error)"]) }
            readFailing = true
            store(watched, at: key)
            markDirty(key)  // again after the interval, while anyone still watches
            return
        case .success(let view):
            if readFailing { logger.info("board reads work again") }
            readFailing = false
            if let old = watched.view, old != view {
                watched.seq += 1
                watched.view = view
                let (moves, highlights) = view.changes(since: old)
                let message = BoardMessage(
                    type: "update", org: key.org, board: key.board, period: view.period, seq: watched.seq,
                    total: view.total, entries: view.entries, moves: moves, highlights: highlights)
                publish(encode(message), key: key, to: watched, zmq: watched.zmqWatched)
                metrics.updates.increment()
            } else if watched.view == nil {
                watched.seq = 1
                watched.view = view
            }
        }
        // Whoever waited for the first read gets its snapshot now.
        if watched.zmqWaiting || !watched.waitingDisplays.isEmpty {
            let snapshot = encode(Self.snapshot(key, watched))
            publish(snapshot, key: key, to: watched, zmq: watched.zmqWaiting, only: watched.waitingDisplays)
            watched.zmqWaiting = false
            watched.waitingDisplays = []
        }
        store(watched, at: key)
        if again { markDirty(key) }
    }

    /// A ZeroMQ topic's first read asks Redis whether the board exists; true when it does and
    /// is now read (under the cap), false when it was dealt with otherwise.
    private func check(_ key: BoardKey, generation: Int) async -> Bool {
        let exists: Result<Bool, any Error>
        do {
            exists = .success(try await source.exists(org: key.org, board: key.board))
        } catch {
            exists = .failure(error)
        }
        guard var watched = boards[key], watched.generation == generation else { return false }
        // A WebSocket display may have connected meanwhile, with its own check.
        if watched.checked {
            guard watched.dormant else { return true }
            boards[key]!.refresh = .idle
            sendWaitingSnapshots(key)
            return false
        }
        switch exists {
        case .failure(let error as StoreError) where error.code == .notFound || error.code == .invalid:
            forget(key, watched, error)
            return false
        case .failure(let error):
            if !readFailing { logger.warning("board check failed; retrying", metadata: ["board": "\(key.topic)", "error": "\(error)"]) }
            readFailing = true
            watched.refresh = .idle
            store(watched, at: key)
            markDirty(key)
            return false
        case .success(false):
            // A notice that named the board while the check was out means it has data now.
            let changedMeanwhile = watched.refresh == .readingDirty
            boards[key]!.checked = true
            boards[key]!.refresh = .idle
            makeDormant(key)
            sendWaitingSnapshots(key)
            if changedMeanwhile { wake(key) }
            return false
        case .success(true):
            guard live.count < limits.maxBoards else {
                // Simply not watched: the subscriber gets nothing for this topic.
                metrics.refused(.watchedBoards)
                logger.notice("subscription not watched: the watched boards are at their cap", metadata: ["board": "\(key.topic)"])
                watched.zmqWatched = false
                watched.zmqWaiting = false
                watched.refresh = .idle
                store(watched, at: key)
                return false
            }
            boards[key]!.checked = true
            makeLive(key)
            return true
        }
    }

    /// Not a board (a topic that names none, a contest that is gone): say so and forget it.
    private func forget(_ key: BoardKey, _ watched: Watched, _ error: StoreError) {
        publish(Self.error(key, error.message), key: key, to: watched, zmq: watched.zmqWatched)
        boards[key] = nil
        live.remove(key)
        metrics.boards.record(Int64(live.count))
    }

    private func sendWaitingSnapshots(_ key: BoardKey) {
        guard var watched = boards[key], watched.zmqWaiting || !watched.waitingDisplays.isEmpty else { return }
        publish(encode(Self.snapshot(key, watched)), key: key, to: watched, zmq: watched.zmqWaiting, only: watched.waitingDisplays)
        watched.zmqWaiting = false
        watched.waitingDisplays = []
        boards[key] = watched
    }

    /// Sends the board's snapshot to a watcher now, or once the first read is in.
    private func snapshot(_ key: BoardKey, zmq: Bool, display: Int?) {
        guard var watched = boards[key] else { return }
        if watched.view != nil {
            publish(encode(Self.snapshot(key, watched)), key: key, to: watched, zmq: zmq, only: display.map { [$0] } ?? [])
            return
        }
        if zmq { watched.zmqWaiting = true }
        if let display { watched.waitingDisplays.insert(display) }
        boards[key] = watched
        markDirty(key)
    }

    /// To the ZeroMQ topic (when `zmq`) and to the board's displays (or just `only`, when given).
    private func publish(_ json: Data, key: BoardKey, to watched: Watched, zmq: Bool, only: Set<Int>? = nil) {
        if zmq { publisher.send([Data(key.topic.utf8), json]) }
        let text = String(decoding: json, as: UTF8.self)
        for id in only ?? watched.displays {
            if let display = displays[id] { offer(text, to: display) }
        }
    }

    private func offer(_ text: String, to display: Display) {
        if display.offer(text) {
            metrics.messages.increment()
        } else {
            metrics.resnapshots.increment()
            logger.debug("display fell behind; its backlog is dropped for snapshots", metadata: ["display": "\(display.id)"])
        }
    }

    private func store(_ watched: Watched, at key: BoardKey) {
        if watched.isWatched {
            boards[key] = watched
        } else {
            boards[key] = nil
            live.remove(key)
        }
        metrics.boards.record(Int64(live.count))
    }

    private func encode(_ value: some Encodable) -> Data {
        (try? encoder.encode(value)) ?? Data("{}".utf8)
    }

    private static func snapshot(_ key: BoardKey, _ watched: Watched) -> BoardMessage {
        let view = watched.view ?? BoardView(period: "", total: 0, entries: [])
        return BoardMessage(
            type: "snapshot", org: key.org, board: key.board, period: view.period, seq: watched.seq,
            total: view.total, entries: view.entries)
    }

    private static func error(_ key: BoardKey, _ message: String) -> Data {
        (try? JSONSerialization.data(withJSONObject: ["type": "error", "org": key.org, "board": key.board, "error": message]))
            ?? Data()
    }

    /// `<org>/<board>` → key; nil for a topic that cannot name a board.
    static func key(topic: String) -> BoardKey? {
        guard let slash = topic.firstIndex(of: "/") else { return nil }
        let org = String(topic[..<slash])
        let board = String(topic[topic.index(after: slash)...])
        guard Org.isValid(org), !board.isEmpty else { return nil }
        return BoardKey(org: org, board: board)
    }
}
