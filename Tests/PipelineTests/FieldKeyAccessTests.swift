import Foundation
import Redis
import TallyStore
import TallyTesting
import Testing
import ZeroMQ

/// The front door as a CURVE server, against the real processes: field apps with a key
/// registered for an org get in and write that org only; anyone else gets no connection; a
/// revoked key is refused on the connection it already has.
@Suite(.serialized) final class FieldKeyAccessTests: @unchecked Sendable {
    // `@unchecked Sendable`: each test gets its own instance and drives it from one task.
    let keys = try! StackKeys.generate()
    let stack: TallyStack
    let redis: RedisClient
    private let running: Task<Void, Never>

    init() throws {
        stack = try TallyStack(keys: keys)
        redis = RedisClient(stack.redis.configuration)
        running = Task { [redis] in await redis.run() }
        try stack.startIngestion()
        try stack.startWorker()
    }

    deinit { running.cancel() }

    /// A field app with its own key pair, for the stack's front door.
    func app(_ pair: CurveKeyPair, timeout: Int32 = 10_000) throws -> FieldApp {
        try FieldApp(stack.endpoint, options: pair.clientOptions(serverKey: keys.frontDoor.publicKey), timeout: timeout)
    }

    /// A new key pair registered for `org`, once ingestion admits it (it reads the keys every second).
    func registered(for org: String) async throws -> (CurveKeyPair, FieldKey) {
        let pair = try CurveKeyPair.generate()
        let key = try await FieldKeyStore(redis: redis).add(org: org, publicKey: pair.publicKey, name: "\(org) phone")
        return (pair, key)
    }

    func call(_ id: String, org: String? = nil, rep: String = "ana") -> String {
        eventJSON(id: id, org: org, rep: rep, kind: "call")
    }

    func points(_ org: String, _ rep: String) throws -> Double? {
        try stack.redis.connection().send("ZSCORE", "{\(org)}:board:points:all:reps:all", rep).string.flatMap(Double.init)
    }

    @Test func aKeyWritesItsOwnOrgOnly() async throws {
        let (pair, _) = try await registered(for: "acme")
        let app = try app(pair)
        // A new key is read within a second; until then the handshake is refused and retried.
        let first = try #require(try app.request(call("c1")), "\(stack.logs)")
        #expect(first.results == [.init(id: "c1", status: "accepted", error: nil)])

        let reply = try #require(try app.request(batchJSON([call("c2", org: "acme"), call("c3", org: "globex"), call("c4", org: "default")])))
        #expect(reply.results == [
            .init(id: "c2", status: "accepted", error: nil),
            .init(id: "c3", status: "rejected", error: "org: this key may not write to org 'globex'"),
            .init(id: "c4", status: "rejected", error: "org: this key may not write to org 'default'"),
        ])
        // c1 (no org) and c2 landed in acme; nothing in globex or default.
        #expect(try points("acme", "ana") == 2)
        #expect(try points("globex", "ana") == nil)
        #expect(try points("default", "ana") == nil)
    }

    @Test func strangersGetNoConnection() async throws {
        let plain = try FieldApp(stack.endpoint, timeout: 1_500)
        #expect(try plain.request(call("p1")) == nil, "a plain-text client gets no answer")
        let unregistered = try app(try CurveKeyPair.generate(), timeout: 1_500)
        #expect(try unregistered.request(call("u1")) == nil, "an unregistered key gets no answer")
        let wrongServer = try FieldApp(stack.endpoint, options: keys.field.clientOptions(serverKey: try CurveKeyPair.generate().publicKey), timeout: 1_500)
        #expect(try wrongServer.request(call("w1")) == nil, "a client that has the wrong server key gets no answer")
        // The stack's own registered key still gets in, and nothing of the others was stored.
        let tools = try FieldApp(stack.endpoint, options: stack.services.fieldAppOptions)
        #expect(try tools.request(call("t1"))?.results?.first?.status == "accepted")
        #expect(try points("default", "ana") == 1)
    }

    @Test func aRevokedKeyIsRefusedOnItsOpenConnectionWithinFiveSeconds() async throws {
        let (pair, key) = try await registered(for: "acme")
        let app = try app(pair)
        #expect(try app.request(call("r1"))?.results?.first?.status == "accepted", "\(stack.logs)")

        #expect(try await FieldKeyStore(redis: redis).revoke(org: "acme", id: key.id))
        let revoked = ContinuousClock.now
        var refusal: Reply?
        var sent = 1
        while refusal == nil, ContinuousClock.now - revoked < .seconds(5) {
            sent += 1
            let reply = try #require(try app.request(call("r\(sent)")))
            if !reply.ok { refusal = reply }
        }
        #expect(refusal?.error == "key: this key is not registered (or was revoked)")
        // What was accepted before the refusal is on the board; nothing after.
        let accepted = sent - 1
        #expect(try points("acme", "ana") == Double(accepted))
        #expect(try app.request(call("after"))?.ok == false)
        #expect(try points("acme", "ana") == Double(accepted))
    }
}
