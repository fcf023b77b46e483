import Foundation
import Redis
import TallyTesting
import Testing

@Suite struct RedisConnectionTests {
    let server: RedisServer
    let redis: RedisConnection

    init() throws {
        server = try RedisServer()
        redis = server.connection()
    }

    @Test func repliesAreTyped() throws {
        #expect(try redis.send("PING") == .status("PONG"))
        #expect(try redis.send("SET", "k", "v") == .status("OK"))
        #expect(try redis.send("GET", "k") == .bulk(Data("v".utf8)))
        #expect(try redis.send("GET", "missing") == .null)
        #expect(try redis.send("INCRBY", "n", 41) == .integer(41))
        #expect(try redis.send("RPUSH", "list", "a", "b") == .integer(2))
        #expect(try redis.send("LRANGE", "list", 0, -1) == .array([.bulk(Data("a".utf8)), .bulk(Data("b".utf8))]))
        #expect(try redis.send("ZADD", "z", 2.5, "m") == .integer(1))
        #expect(try redis.send("ZSCORE", "z", "m").double == 2.5)
    }

    @Test func argumentsAreBinarySafe() throws {
        let value = Data([0, 1, 0, 255, 13, 10])
        try redis.send(["SET", Data("bin\0key".utf8), value])
        #expect(try redis.send(["GET", Data("bin\0key".utf8)]) == .bulk(value))
        try redis.send("SET", "empty", "")
        #expect(try redis.send("GET", "empty") == .bulk(Data()))
    }

    @Test func serverErrorsAreThrownWithTheirText() throws {
        try redis.send("SET", "plain", "x")
        let error = #expect(throws: RedisError.self) { try redis.send("ZINCRBY", "plain", 1, "m") }
        #expect(error?.kind == .server)
        #expect(error?.code == "WRONGTYPE")
        #expect(error?.message == "WRONGTYPE Operation against a key holding the wrong kind of value")
        // The connection is still good afterwards.
        #expect(try redis.send("GET", "plain").string == "x")
    }

    @Test func pipelineOfTenThousandIncrements() throws {
        // Member m<i> gets i % 7 + 1 for every one of its appearances; i runs over 10,000
        // commands spread over 100 members, so each member appears 100 times.
        let commands: [[any RedisArgument]] = (0..<10_000).map { i in
            ["ZINCRBY", "board", (i % 100) % 7 + 1, "m\(i % 100)"]
        }
        let replies = try redis.pipeline(commands)
        #expect(replies.count == 10_000)
        #expect(replies.allSatisfy { $0.double != nil })
        for member in [0, 1, 6, 7, 99] {
            let expected = Double(100 * (member % 7 + 1))
            #expect(try redis.send("ZSCORE", "board", "m\(member)").double == expected)
        }
        #expect(try redis.send("ZCARD", "board") == .integer(100))
    }

    @Test func pipelineKeepsErrorRepliesInPlace() throws {
        try redis.send("SET", "s", "x")
        let replies = try redis.pipeline([["INCR", "c"], ["INCR", "s"], ["INCR", "c"]])
        #expect(replies[0] == .integer(1))
        #expect(replies[1] == .error("ERR value is not an integer or out of range"))
        #expect(replies[2] == .integer(2))
    }

    @Test func scriptsSurviveScriptFlush() throws {
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(try redis.run(script, keys: ["counter"], arguments: [5]) == .integer(5))
        try redis.send("SCRIPT", "FLUSH")
        #expect(try redis.run(script, keys: ["counter"], arguments: [3]) == .integer(8))
        #expect(try redis.run(script, keys: ["counter"], arguments: [1]) == .integer(9))
    }

    @Test func aScriptPipelinedOverManyCallsIsOneBatch() throws {
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        let calls = (1...50).map { (keys: ["c\($0 % 5)"], arguments: [String($0)]) }
        let replies = try redis.pipeline(script, calls: calls)
        // Key c<k> gets every i in 1...50 with i % 5 == k; the reply is its running total.
        let c0: Int64 = 5 + 10 + 15 + 20 + 25 + 30 + 35 + 40 + 45 + 50
        let c1: Int64 = 1 + 6 + 11 + 16 + 21 + 26 + 31 + 36 + 41 + 46
        #expect(replies.count == 50)
        #expect(replies.last == .integer(c0))
        try redis.send("SCRIPT", "FLUSH")
        let again = try redis.pipeline(script, calls: [(keys: ["c1"], arguments: ["1"])])
        #expect(again == [.integer(c1 + 1)])
    }

    @Test func reconnectsAfterTheServerRestarts() throws {
        try redis.send("SET", "before", "1")
        try server.restart()
        // The call in flight when the connection is found broken fails clearly...
        let error = #expect(throws: RedisError.self) { try redis.send("PING") }
        #expect(error?.kind == .connection)
        // ...and the next one connects again (the restarted server kept nothing: no persistence).
        #expect(try redis.send("PING") == .status("PONG"))
        #expect(try redis.send("GET", "before") == .null)
    }

    @Test func connectingToNothingFailsClearly() throws {
        let nothing = RedisConnection(RedisConfiguration(host: "127.0.0.1", port: freePort()))
        let error = #expect(throws: RedisError.self) { try nothing.send("PING") }
        #expect(error?.kind == .connection)
        #expect(error?.message.contains("Connection refused") == true)
    }

    @Test func selectsTheDatabaseFromTheURL() throws {
        let db3 = try RedisConnection(url: "redis://127.0.0.1:\(server.port)/3")
        try db3.send("SET", "where", "three")
        #expect(try redis.send("GET", "where") == .null)
        try redis.send("SELECT", 3)
        #expect(try redis.send("GET", "where").string == "three")
    }

    @Test func asyncClientStaysOffTheCooperativePool() async throws {
        try await RedisClient.with(server.configuration) { client in
            async let a = client.send(["INCR", "shared"])
            async let b = client.send(["INCR", "shared"])
            let replies = try await [a, b]
            #expect(Set(replies.compactMap(\.int)) == [1, 2])
        }
    }

    /// The client's threads live as long as its `run()`: none before, none after, and a call
    /// made once it has ended fails instead of waiting for ever.
    @Test func theClientsThreadsStartAndEndWithRun() async throws {
        let client = RedisClient(server.configuration, label: "life", connections: 3)
        #expect(threads(named: "redis-life-") == 0)
        // A call made before run() waits for it.
        async let early = client.send(["PING"])
        let running = Task { await client.run() }
        #expect(try await early == .status("PONG"))
        try await waitUntil("the client's three threads") { threads(named: "redis-life-") == 3 }
        running.cancel()
        await running.value
        // run() returns as the threads' last act: they are gone a moment later.
        try await waitUntil("the client's threads to end") { threads(named: "redis-life-") == 0 }
        let error = await #expect(throws: RedisError.self) { try await client.send(["PING"]) }
        #expect(error?.message == "the Redis client has shut down")
    }

    @Test func concurrentScriptCallsEachGetTheirOwnReplies() async throws {
        // Calls queued together go out as one pipeline; each caller must get its own replies,
        // in its own order, whatever the others asked.
        let echo = RedisScript("return {KEYS[1], ARGV[1]}")
        let answers = try await RedisClient.with(server.configuration) { client in try await withThrowingTaskGroup(of: (Int, [RedisReply]).self) { group in
            for caller in 0..<200 {
                group.addTask {
                    let calls = (0..<(caller % 3 + 1)).map { call in (keys: ["k\(caller)"], arguments: ["\(caller).\(call)"]) }
                    return (caller, try await client.pipeline(echo, calls: calls))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        } }
        for caller in 0..<200 {
            let expected = (0..<(caller % 3 + 1)).map { call in RedisReply.array([.bulk(Data("k\(caller)".utf8)), .bulk(Data("\(caller).\(call)".utf8))]) }
            #expect(answers[caller] == expected, "caller \(caller)")
        }
    }

    @Test func scriptCallsSurviveTheServerForgettingScripts() async throws {
        let script = RedisScript("return 'still here'")
        let redis = self.redis
        try await RedisClient.with(server.configuration) { client in
            #expect(try await client.pipeline(script, calls: [([], [])]) == [.bulk(Data("still here".utf8))])
            try redis.send("SCRIPT", "FLUSH")
            #expect(try await client.pipeline(script, calls: [([], []), ([], [])]) == Array(repeating: .bulk(Data("still here".utf8)), count: 2))
        }
    }

    @Test func aScriptErrorIsOneCallersReplyNotTheOthers() async throws {
        let script = RedisScript("if ARGV[1] == 'bad' then return redis.error_reply('no good') end return ARGV[1]")
        try await RedisClient.with(server.configuration) { (client: RedisClient) async throws in
            async let good = client.pipeline(script, calls: [([], ["fine"])])
            async let bad = client.pipeline(script, calls: [([], ["bad"])])
            #expect(try await good == [.bulk(Data("fine".utf8))])
            #expect(try await bad == [.error("no good")])
        }
    }
}

@Suite struct RedisAuthTests {
    @Test func authenticatesWithThePasswordFromTheURL() throws {
        let server = try RedisServer(password: "s3cret")
        let redis = try RedisConnection(url: "redis://:s3cret@127.0.0.1:\(server.port)")
        #expect(try redis.send("PING") == .status("PONG"))

        let wrong = try RedisConnection(url: "redis://:nope@127.0.0.1:\(server.port)")
        let error = #expect(throws: RedisError.self) { try wrong.send("PING") }
        #expect(error?.code == "WRONGPASS")
        #expect(!wrong.isConnected)

        let none = try RedisConnection(url: "redis://127.0.0.1:\(server.port)")
        let refused = #expect(throws: RedisError.self) { try none.send("GET", "x") }
        #expect(refused?.code == "NOAUTH")
    }

    @Test func urlsAreParsedAndCheckedByField() throws {
        let config = try RedisConfiguration(url: "redis://:p%40ss@cache.local:6380/2")
        #expect(config.host == "cache.local" && config.port == 6380 && config.database == 2)
        #expect(config.password == "p@ss")
        #expect(config.redactedURL == "redis://:***@cache.local:6380/2")
        let wrongScheme = #expect(throws: RedisError.self) { try RedisConfiguration(url: "http://x") }
        #expect(wrongScheme?.kind == .configuration)
        #expect(wrongScheme?.message.hasPrefix("redis-url: expected redis://") == true)
        #expect(wrongScheme?.message.hasSuffix("got 'http://x'") == true)
        #expect(throws: RedisError.self) { try RedisConfiguration(url: "redis://h:1/notanumber") }
    }
}
