import Foundation

/// Pipelines that do not wait: each `send` writes its calls to Redis at once and returns, and
/// its replies are collected once they have arrived. A thread that waits on other things too
/// (a ZeroMQ socket's poller) keeps serving while Redis works, with any number of pipelines in
/// flight, instead of holding everything for each round trip.
///
/// One thread owns it: it polls `fileDescriptors` for reading, at most `timeout`, then calls
/// `collect`, which hands back each finished `send` with its tag: the replies in the order of
/// its calls (error replies in place), or the connection failure that lost them.
///
/// Calls are routed as `RedisConnection` routes them: the master, or on a cluster each call's
/// slot's master. A reply that sends a call elsewhere or asks for it again (`MOVED`, `ASK`,
/// `TRYAGAIN`, `CLUSTERDOWN`, `NOSCRIPT`; none of them means the call ran) is followed by
/// sending that call again through a blocking connection of its own, which handles each case;
/// so is a pipeline with a script that a busy connection has still to load (a `SCRIPT LOAD`
/// would have to wait behind the replies in flight). Both are rare: a slot moving, a restarted
/// server, a new connection's first call. A connection that breaks, or does not answer within
/// the command timeout, fails every pipeline waiting on it, and the next `send` connects again.
package final class RedisPipelineInFlight<Tag> {
    package typealias Completion = (tag: Tag, result: Result<[RedisReply], RedisError>)

    private let connection: RedisConnection
    /// For the calls that must go again, and pipelines that cannot be written without waiting.
    private let blocking: RedisConnection
    private var pipelines: [Int: Pipeline] = [:]
    private var nextPipeline = 0
    /// Per server written to, the calls whose replies are awaited, in the order written.
    private var lanes: [ObjectIdentifier: Lane] = [:]
    private var finished: [Completion] = []
    /// Calls whose replies are awaited.
    package private(set) var inFlight = 0

    private struct Pipeline {
        let tag: Tag
        let calls: [RedisConnection.Call]
        var replies: [RedisReply?]
        /// Replies still to come.
        var missing: Int
        /// Its completion has been handed out (a failure, before all its replies were in).
        var delivered = false
    }

    private struct Awaited {
        let pipeline: Int
        let call: Int
        let deadline: ContinuousClock.Instant
    }

    /// One server's replies to come. `generation` is the connection they were written on: once
    /// the node has connected again, they will never arrive.
    private final class Lane {
        let node: RedisNode
        var generation: Int
        var awaited: [Awaited] = []
        var head = 0
        init(_ node: RedisNode) {
            self.node = node
            self.generation = node.connections
        }
        var isEmpty: Bool { head == awaited.count }
        var lost: Bool { !node.isConnected || node.connections != generation }
    }

    package init(_ configuration: RedisConfiguration) {
        connection = RedisConnection(configuration)
        blocking = RedisConnection(configuration)
    }

    /// Writes `calls` now; their replies come back from a later `collect` (or the next one, if
    /// this one failed at once).
    package func send(_ calls: [RedisConnection.Call], tag: Tag) {
        guard !calls.isEmpty else {
            finished.append((tag, .success([])))
            return
        }
        reapLost()
        let id = nextPipeline
        nextPipeline += 1
        pipelines[id] = Pipeline(tag: tag, calls: calls, replies: Array(repeating: nil, count: calls.count), missing: calls.count)
        var written = 0
        do {
            // Where each call goes, in order per server.
            var plan: [(lane: Lane, calls: [Int])] = []
            for (index, call) in calls.enumerated() {
                let lane = try lane(for: try connection.route(call))
                if let script = call.script, !lane.isEmpty, !lane.node.knowsSHA(script) {
                    sendBlocking(id)
                    return
                }
                if let at = plan.firstIndex(where: { $0.lane === lane }) {
                    plan[at].calls.append(index)
                } else {
                    plan.append((lane, [index]))
                }
            }
            let deadline = ContinuousClock.now + connection.configuration.commandTimeout
            for (lane, indices) in plan {
                var commands: [[any RedisArgument]] = []
                commands.reserveCapacity(indices.count)
                for index in indices { commands.append(try calls[index].command(on: lane.node)) }
                try lane.node.write(commands)
                lane.generation = lane.node.connections
                for index in indices { lane.awaited.append(Awaited(pipeline: id, call: index, deadline: deadline)) }
                inFlight += indices.count
                written += indices.count
            }
        } catch {
            fail(id, error)
            settle(id, unanswered: calls.count - written)  // the calls never written
            reapLost()  // a failed write dropped its connection, and what waited on it
        }
    }

    /// The connections with replies outstanding: poll them for reading.
    package var fileDescriptors: [Int32] {
        lanes.values.compactMap { $0.isEmpty ? nil : $0.node.fileDescriptor }
    }

    /// How long a poll may wait before the oldest call outstanding is out of time; nil when none
    /// is; zero when a pipeline has finished already (failed at once, or sent the blocking way)
    /// and waits to be collected.
    package var timeout: Duration? {
        if !finished.isEmpty { return .zero }
        let deadlines = lanes.values.compactMap { $0.isEmpty ? nil : $0.awaited[$0.head].deadline }
        guard let first = deadlines.min() else { return nil }
        return max(.zero, first - .now)
    }

    /// Reads the replies that have arrived on the connections `readable` names (from a poll of
    /// `fileDescriptors`), fails what is out of time, and returns the pipelines now finished.
    package func collect(readable: [Int32]) -> [Completion] {
        let now = ContinuousClock.now
        var again: [(pipeline: Int, call: Int)] = []
        for lane in lanes.values where !lane.isEmpty {
            if let fd = lane.node.fileDescriptor, readable.contains(fd) {
                do throws(RedisError) {
                    let replies = try lane.node.readArrived()
                    guard replies.count <= lane.awaited.count - lane.head else {
                        lane.node.disconnect()
                        throw RedisError(.connection, "\(lane.node.address): more replies than calls")
                    }
                    for reply in replies {
                        let awaited = lane.awaited[lane.head]
                        lane.head += 1
                        inFlight -= 1
                        switch Redirection(reply) {
                        case .none:
                            answer(awaited.pipeline, call: awaited.call, with: reply)
                            continue
                        case .noScript:
                            if let script = pipelines[awaited.pipeline]?.calls[awaited.call].script { lane.node.forget(script) }
                        case .moved, .clusterDown:
                            connection.slotsMoved()
                        case .ask, .tryAgain:
                            break
                        }
                        again.append((awaited.pipeline, awaited.call))
                    }
                    compact(lane)
                } catch {
                    failAwaited(lane, error)
                }
            } else if lane.awaited[lane.head].deadline <= now {
                lane.node.disconnect()
                failAwaited(lane, RedisError(.connection, "\(lane.node.address): no reply within \(connection.configuration.commandTimeout)"))
            }
        }
        // Sent again where the reply said, through the blocking connection, which follows it.
        let live = again.filter { pipelines[$0.pipeline]?.delivered == false }
        for (id, _) in again where pipelines[id]?.delivered != false { settle(id, unanswered: 1) }
        if !live.isEmpty {
            do {
                let replies = try blocking.pipeline(live.map { pipelines[$0.pipeline]!.calls[$0.call] })
                for ((id, call), reply) in zip(live, replies) { answer(id, call: call, with: reply) }
            } catch {
                for (id, _) in live { fail(id, error) }
                for (id, _) in live { settle(id, unanswered: 1) }
            }
        }
        defer { finished = [] }
        return finished
    }

    // MARK: -

    private func lane(for node: RedisNode) throws(RedisError) -> Lane {
        let key = ObjectIdentifier(node)
        if let lane = lanes[key] {
            if lane.lost { failAwaited(lane, RedisError(.connection, "\(node.address): the connection was lost")) }
            return lane
        }
        let lane = Lane(node)
        lanes[key] = lane
        return lane
    }

    /// A pipeline that cannot be written here without waiting, sent through the blocking connection.
    private func sendBlocking(_ id: Int) {
        do {
            let replies = try blocking.pipeline(pipelines[id]!.calls)
            for (call, reply) in replies.enumerated() { answer(id, call: call, with: reply) }
        } catch {
            fail(id, error)
            pipelines[id] = nil  // nothing of it was written here
        }
    }

    /// A call's reply is in; the pipeline is finished when the last one is.
    private func answer(_ id: Int, call: Int, with reply: RedisReply) {
        guard var pipeline = pipelines[id] else { return }
        if pipeline.delivered {
            settle(id, unanswered: 1)
            return
        }
        pipeline.replies[call] = reply
        pipeline.missing -= 1
        if pipeline.missing == 0 {
            pipelines[id] = nil
            finished.append((pipeline.tag, .success(pipeline.replies.map { $0! })))
        } else {
            pipelines[id] = pipeline
        }
    }

    /// Hands out the pipeline's failure now; what is still to come for it is let go (`settle`).
    private func fail(_ id: Int, _ error: RedisError) {
        guard var pipeline = pipelines[id], !pipeline.delivered else { return }
        pipeline.delivered = true
        pipelines[id] = pipeline
        finished.append((pipeline.tag, .failure(error)))
    }

    /// `unanswered` of a failed pipeline's calls will never be answered (or were, after it
    /// failed); it is forgotten once none is left to come.
    private func settle(_ id: Int, unanswered: Int) {
        guard var pipeline = pipelines[id] else { return }
        pipeline.missing -= unanswered
        pipelines[id] = pipeline.missing <= 0 ? nil : pipeline
    }

    /// Every call waiting on `lane` fails: its replies will never come.
    private func failAwaited(_ lane: Lane, _ error: RedisError) {
        let lost = lane.awaited[lane.head...]
        inFlight -= lost.count
        lane.awaited = []
        lane.head = 0
        lane.generation = lane.node.connections
        for awaited in lost {
            fail(awaited.pipeline, error)
            settle(awaited.pipeline, unanswered: 1)
        }
    }

    private func reapLost() {
        for lane in lanes.values where !lane.isEmpty && lane.lost {
            failAwaited(lane, RedisError(.connection, "\(lane.node.address): the connection was lost"))
        }
    }

    private func compact(_ lane: Lane) {
        if lane.isEmpty {
            lane.awaited.removeAll(keepingCapacity: true)
            lane.head = 0
        }
    }
}
