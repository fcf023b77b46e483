import Foundation
import Redis
import TallyTesting
import Testing

/// Keys known without asking Redis, on real servers: a value is never answered once a writer
/// has heard back from Redis after changing it, nor once the connections that would have
/// heard of a change are gone; and a cluster's keys are watched on each master.
@Suite struct RedisKeyWatchTests {
    /// Asks until the watch knows `key` (it reads it in the background), at most 10 s.
    private func known(_ watch: RedisKeyWatch, _ key: String) -> String?? {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let value = watch.value(of: key) { return value }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return nil
    }

    /// Sets `version` to `value` and makes one more round trip (what a scoring worker does
    /// before it answers): the very next ask must not give the old value, and the new one is
    /// learned after.
    private func setVersion(
        _ value: String, with connection: RedisConnection, _ watch: RedisKeyWatch, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try connection.send("SET", "version", value)
        try connection.send("PING")
        let now = watch.value(of: "version")
        #expect(now == nil, "\(String(describing: now))", sourceLocation: sourceLocation)
        #expect(known(watch, "version") == .some(value), sourceLocation: sourceLocation)
    }

    /// The watch, running until the test cancels its task (and awaits it).
    private func running(_ configuration: RedisConfiguration, lease: Duration = .seconds(60)) -> (RedisKeyWatch, Task<Void, Never>) {
        let watch = RedisKeyWatch(configuration, lease: lease)
        return (watch, Task { await watch.run() })
    }

    @Test func aBurstOfInvalidationsIsReadWholeAndAForgottenKeyIsNotKnown() async throws {
        let server = try RedisServer()
        let writer = server.connection()
        let (watch, task) = running(server.configuration)
        // 2,000 keys of 40 characters: their invalidations, some 130 KB, far more than one read takes.
        let keys = (0..<2_000).map { String(format: "{org-%05d-with-a-long-name-here}:seq", $0) }
        _ = try writer.pipeline(keys.map { ["SET", $0, "1"] })
        for key in keys { _ = watch.value(of: key) }
        for key in keys { #expect(known(watch, key) == "1", "\(key)") }
        try writer.send(["MSET"] + keys.flatMap { [$0, "2"] })
        try writer.send("PING")
        // The last key first: its invalidation is the last to arrive.
        let stale = keys.reversed().filter { watch.value(of: $0) != nil }
        #expect(stale.isEmpty, "\(stale.count) of \(keys.count) still known after the write")
        #expect(known(watch, keys[0]) == "2")
        watch.forget(keys[0])
        #expect(watch.value(of: keys[0]) == nil)

        // Stopped, it closes its connections: no subscriber is left on the server.
        task.cancel()
        await task.value
        let clients = try writer.send("CLIENT", "LIST", "TYPE", "pubsub").string ?? ""
        #expect(clients.isEmpty, "\(clients)")
    }

    @Test func aValueIsReadAgainOnceItsLeaseIsOver() async throws {
        let server = try RedisServer()
        let admin = server.connection()
        let (watch, task) = running(server.configuration, lease: .milliseconds(300))
        try admin.send("SET", "version", "1")
        #expect(known(watch, "version") == "1")
        // Nothing written: only the lease makes the watch ask again.
        try await Task.sleep(for: .milliseconds(400))
        #expect(watch.value(of: "version") == nil, "kept past its lease")
        task.cancel()
        await task.value
    }

    @Test func aValueIsForgottenOnceItsWriterHasHeardBackTwice() async throws {
        let server = try RedisServer()
        let writer = server.connection()
        let (watch, task) = running(server.configuration)
        #expect(known(watch, "absent") == .some(nil))
        try writer.send("SET", "version", "0")
        #expect(watch.value(of: "version") == nil)  // not read yet: not known
        #expect(known(watch, "version") == "0")
        for round in 1...200 {
            // The write and one more round trip (what a scoring worker does before it answers):
            // the very next ask must not give the old value, without any wait.
            try writer.send("INCR", "version")
            try writer.send("PING")
            let now = watch.value(of: "version")
            #expect(now == nil || now == .some(String(round)), "round \(round): \(String(describing: now))")
            #expect(known(watch, "version") == .some(String(round)), "round \(round)")
        }
        // A key that vanishes is known to be gone; a flush forgets everything.
        try writer.send("DEL", "version")
        try writer.send("PING")
        #expect(known(watch, "version") == .some(nil))
        try writer.send("SET", "other", "x")
        #expect(known(watch, "other") == "x")
        try writer.send("FLUSHALL")
        try writer.send("PING")
        #expect(watch.value(of: "other") == nil)
        #expect(known(watch, "other") == .some(nil))
        task.cancel()
        await task.value
    }

    @Test func nothingIsAnsweredOnceTheConnectionsThatHearOfChangesAreGone() async throws {
        let server = try RedisServer()
        let admin = server.connection()
        let (watch, task) = running(server.configuration)
        try admin.send("SET", "version", "1")
        #expect(known(watch, "version") == "1")

        // The subscriber killed: the invalidation of the next write would go nowhere.
        try admin.send("CLIENT", "KILL", "TYPE", "pubsub")
        try setVersion("2", with: admin, watch)

        // The tracking connection killed (every normal client but this one): Redis tracks nothing for it any more.
        try admin.send("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        try setVersion("3", with: admin, watch)
        // And watched again on the new connections.
        try setVersion("4", with: admin, watch)
        task.cancel()
        await task.value
    }

    @Test func aClustersKeysAreWatchedOnTheirOwnMasters() async throws {
        let cluster = try RedisCluster()
        let writer = cluster.connection()
        let (watch, task) = running(cluster.configuration)
        // Twelve orgs' versions, spread over the three masters by their hash tags.
        let keys = (0..<12).map { "{org-\($0)}:seq" }
        #expect(Set(try keys.map { try cluster.master(of: HashSlot.of($0)) }).count == 3)
        for key in keys { try writer.send("SET", key, "1") }
        for key in keys { #expect(known(watch, key) == "1", "\(key)") }
        for key in keys {
            try writer.send("INCR", key)
            try writer.send("GET", key)  // a later round trip to the same master
            #expect(watch.value(of: key) == nil, "\(key)")
        }
        for key in keys { #expect(known(watch, key) == "2", "\(key)") }
        task.cancel()
        await task.value
    }
}
