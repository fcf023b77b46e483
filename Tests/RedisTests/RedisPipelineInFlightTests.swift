import Foundation
import Redis
import TallyTesting
import Testing

/// Pipelines in flight against real servers: many written before any reply is read, each
/// answered with its own replies in order; scripts the server forgot, a server that stops
/// answering or goes away, and a cluster's slots, each followed.
@Suite struct RedisPipelineInFlightTests {
    typealias Pipe = RedisPipelineInFlight<Int>

    /// Polls the pipe's connections until `count` pipelines have come back (or 10 s passed).
    private func collect(_ pipe: Pipe, _ count: Int) -> [Int: Result<[RedisReply], RedisError>] {
        var done: [Int: Result<[RedisReply], RedisError>] = [:]
        let deadline = ContinuousClock.now + .seconds(10)
        while done.count < count, ContinuousClock.now < deadline {
            var fds = pipe.fileDescriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let wait = pipe.timeout.map { Int32($0.components.seconds * 1_000 + $0.components.attoseconds / 1_000_000_000_000_000 + 1) } ?? 100
            _ = poll(&fds, nfds_t(fds.count), min(wait, 100))
            for (tag, result) in pipe.collect(readable: fds.filter { $0.revents & Int16(POLLIN) != 0 }.map(\.fd)) {
                #expect(done[tag] == nil, "pipeline \(tag) came back twice")
                done[tag] = result
            }
        }
        return done
    }

    @Test func manyPipelinesInFlightComeBackEachWithItsOwnRepliesInOrder() throws {
        let server = try RedisServer()
        let pipe = Pipe(server.configuration)
        // Pipeline i: INCRBY n by i, then ECHO i. All 50 are written before any reply is read.
        for i in 1...50 {
            pipe.send([.init(["INCRBY", "n", String(i)]), .init(["ECHO", "tag-\(i)"])], tag: i)
        }
        #expect(pipe.inFlight == 100)
        let done = collect(pipe, 50)
        #expect(done.count == 50)
        for i in 1...50 {
            // Redis runs them in the order written: n is 1 + 2 + ... + i after pipeline i.
            #expect(try done[i]?.get() == [.integer(Int64(i * (i + 1) / 2)), .bulk(Data("tag-\(i)".utf8))], "pipeline \(i)")
        }
        #expect(pipe.inFlight == 0)
        #expect(pipe.fileDescriptors.isEmpty)
        // An error reply stays in its place.
        try server.connection().send("SET", "s", "x")
        pipe.send([.init(["INCR", "c"]), .init(["INCR", "s"]), .init(["INCR", "c"])], tag: 51)
        let mixed = try #require(try collect(pipe, 1)[51]?.get())
        #expect(mixed[0] == .integer(1) && mixed[2] == .integer(2))
        #expect(mixed[1] == .error("ERR value is not an integer or out of range"))
    }

    @Test func aScriptTheServerForgotIsLoadedAgainAndRunsOnce() throws {
        let server = try RedisServer()
        let pipe = Pipe(server.configuration)
        let add = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        pipe.send([.init(add, keys: ["counter"], arguments: [5])], tag: 1)
        #expect(try collect(pipe, 1)[1]?.get() == [.integer(5)])
        try server.connection().send("SCRIPT", "FLUSH")
        // Both pipelines meet NOSCRIPT; each call runs once, after its script is loaded again.
        pipe.send([.init(add, keys: ["counter"], arguments: [3])], tag: 2)
        pipe.send([.init(["GET", "counter"]), .init(add, keys: ["counter"], arguments: [1])], tag: 3)
        let done = collect(pipe, 2)
        #expect(try done[2]?.get() == [.integer(8)])
        let third = try #require(try done[3]?.get())
        #expect(third.count == 2 && third[1] == .integer(9), "\(third)")
        #expect(try server.connection().send("GET", "counter").string == "9")
    }

    @Test func aServerThatStopsAnsweringFailsWhatWaitsOnItAndIsUsedAgainAfter() throws {
        let server = try RedisServer()
        var configuration = server.configuration
        configuration.commandTimeout = .milliseconds(300)
        let pipe = Pipe(configuration)
        pipe.send([.init(["PING"])], tag: 1)
        #expect(try collect(pipe, 1)[1]?.get() == [.status("PONG")])

        server.signal(SIGSTOP)
        pipe.send([.init(["INCR", "n"])], tag: 2)
        pipe.send([.init(["INCR", "n"])], tag: 3)
        let late = collect(pipe, 2)
        server.signal(SIGCONT)
        for tag in [2, 3] {
            guard case .failure(let error) = late[tag] else {
                Issue.record("pipeline \(tag): \(String(describing: late[tag]))")
                continue
            }
            #expect(error.kind == .connection)
            #expect(error.message.contains("no reply within"), "\(error)")
        }
        #expect(pipe.inFlight == 0)
        // The next pipeline connects again, and nothing of the lost connection's is mistaken for its reply.
        pipe.send([.init(["ECHO", "after"])], tag: 4)
        #expect(try collect(pipe, 1)[4]?.get() == [.bulk(Data("after".utf8))])

        server.stop()
        pipe.send([.init(["PING"])], tag: 5)
        guard case .failure(let error) = collect(pipe, 1)[5] else {
            Issue.record("a pipeline to a stopped server did not fail")
            return
        }
        #expect(error.kind == .connection)
        try server.restart()
        pipe.send([.init(["PING"])], tag: 6)
        #expect(try collect(pipe, 1)[6]?.get() == [.status("PONG")])
    }

    @Test func onAClusterEachCallGoesToItsSlotsMasterAndAMovedSlotIsFollowed() throws {
        let cluster = try RedisCluster()
        let pipe = Pipe(cluster.connection().configuration)
        // INCRBY of i on org(i % 30), in three pipelines in flight at once: all three masters.
        for part in 0..<3 {
            pipe.send((0..<300).map { j in
                let i = part * 300 + j
                return .init(["INCRBY", "{org\(i % 30)}:n", String(i)])
            }, tag: part)
        }
        let done = collect(pipe, 3)
        for part in 0..<3 {
            let replies = try #require(try done[part]?.get())
            for (j, reply) in replies.enumerated() {
                // Reply i is org k = i % 30's running total: `terms` terms of k plus 30·(0 + ... + terms − 1).
                let i = part * 300 + j, k = i % 30, terms = i / 30 + 1
                #expect(reply == .integer(Int64(terms * k + 30 * terms * (terms - 1) / 2)), "reply \(i)")
            }
        }

        // A slot handed to another master: the pipe's map still says the old one, which answers
        // MOVED; the call goes again where it said, and lands there once.
        let slot = HashSlot.of("org7")
        let from = try cluster.master(of: slot)
        let to = try #require(cluster.ports.first { $0 != from })
        let ids = try cluster.nodeIDs()
        try cluster.connection().send("DEL", "{org7}:n")
        for port in [to, from] + cluster.ports.filter({ $0 != to && $0 != from }) {
            try cluster.node(port).send("CLUSTER", "SETSLOT", slot, "NODE", ids[to]!)
        }
        pipe.send([.init(["INCRBY", "{org7}:n", "5"]), .init(["GET", "{org8}:n"])], tag: 10)
        let moved = try #require(try collect(pipe, 1)[10]?.get())
        #expect(moved[0] == .integer(5), "\(moved)")
        #expect(moved[1].string != nil, "\(moved)")
        #expect(try cluster.node(to).send("GET", "{org7}:n").string == "5")
        // And from now on straight to the new master.
        pipe.send([.init(["INCRBY", "{org7}:n", "1"])], tag: 11)
        #expect(try collect(pipe, 1)[11]?.get() == [.integer(6)])
    }
}
