import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Redis
import Synchronization
import TallyStore
import ZeroMQ

/// The CURVE keys of a stack on one machine: the front door's key pair, the stack's own
/// service key, and one field key for the tools on this machine (`tally send`, `simulate`, the
/// demo, the start-up probe). `tally up` keeps them under `<data dir>/keys/`, one secret key
/// (Z85) per file, readable by its owner only, so they survive restarts.
package struct StackKeys: Sendable, Equatable {
    package let frontDoor: CurveKeyPair
    package let service: CurveKeyPair
    package let field: CurveKeyPair

    package static func generate() throws -> StackKeys {
        StackKeys(frontDoor: try CurveKeyPair.generate(), service: try CurveKeyPair.generate(), field: try CurveKeyPair.generate())
    }

    private static let files = (frontDoor: "front-door.key", service: "service.key", field: "field.key")

    /// The keys under `directory`, made (and written) where missing.
    package static func loadOrCreate(in directory: URL) throws -> StackKeys {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        func key(_ file: String) throws -> CurveKeyPair {
            let url = directory.appendingPathComponent(file)
            if let pair = try read(url) { return pair }
            let pair = try CurveKeyPair.generate()
            try writeSecretFile(pair.secretKey, to: url)
            return pair
        }
        return StackKeys(frontDoor: try key(files.frontDoor), service: try key(files.service), field: try key(files.field))
    }

    /// The keys under `directory`; nil when `tally up` has not made them there.
    package static func load(from directory: URL) throws -> StackKeys? {
        guard let frontDoor = try read(directory.appendingPathComponent(files.frontDoor)),
            let service = try read(directory.appendingPathComponent(files.service)),
            let field = try read(directory.appendingPathComponent(files.field))
        else { return nil }
        return StackKeys(frontDoor: frontDoor, service: service, field: field)
    }

    private static func read(_ url: URL) throws -> CurveKeyPair? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pair = CurveKeyPair(secretKey: text) else { throw LaunchError.keys("\(url.path) does not hold a CURVE secret key (40 characters of Z85)") }
        return pair
    }

    /// Registers the tools' field key for `org` in the Redis at `redisURL` (nothing to do when
    /// it is registered for `org` already).
    package func registerFieldKey(org: String, redisURL: String) throws {
        let configuration = try RedisConfiguration(url: redisURL)
        let publicKey = field.publicKey
        try blocking {
            let client = RedisClient(configuration, label: "keys")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                let store = FieldKeyStore(redis: client)
                if try await store.registered()[publicKey]?.org == org { return }
                _ = try await store.add(org: org, publicKey: publicKey, name: "this machine's tools (tally up)")
            }
        }
    }
}

/// Runs `body` to its end from synchronous code (the CLI's and the test fixtures' start-up).
private func blocking(_ body: @escaping @Sendable () async throws -> Void) throws {
    let result = Mutex<Result<Void, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { try await body(); result.withLock { $0 = .success(()) } } catch { result.withLock { $0 = .failure(error) } }
        done.signal()
    }
    done.wait()
    try result.withLock { $0! }.get()
}

/// Writes `text` to a new file at `url` that only its owner can read, created so from the start
/// (not chmodded after), so that no other user ever has a moment to read it.
package func writeSecretFile(_ text: String, to url: URL) throws {
    let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw LaunchError.keys("cannot write \(url.path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let bytes = Array((text + "\n").utf8)
    guard write(fd, bytes, bytes.count) == bytes.count else { throw LaunchError.keys("cannot write \(url.path)") }
}
