import Foundation
import Redis
import TallyLauncher
import Testing

/// The launcher with real processes: redis-server keeps (or, for tests, drops) what it was
/// told across a restart, processes stop last-started first, and a process that dies while
/// it is waited for is reported at once with what it printed.
@Suite final class LauncherTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tally-launcher-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Sets a key, restarts the server on the same data directory, and reads the key back.
    private func survivesARestart(appendOnly: Bool) throws -> (appendOnly: String?, fsync: String?, value: String?) {
        let data = directory.appendingPathComponent("redis-\(appendOnly)")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let launcher = Launcher(logs: .files(in: directory))
        let options = RedisServerOptions(port: freePort(), directory: data, appendOnly: appendOnly)
        try launcher.startRedis(options)
        let before = try RedisConnection(url: options.url)
        let setting = try before.send("CONFIG", "GET", "appendonly").array?.last?.string
        let fsync = try before.send("CONFIG", "GET", "appendfsync").array?.last?.string
        try before.send("SET", "deal", "12500")
        launcher.stopAll()
        try launcher.startRedis(options)
        defer { launcher.stopAll() }
        return (setting, fsync, try RedisConnection(url: options.url).send("GET", "deal").string)
    }

    @Test func redisKeepsItsDataAcrossARestartWithAOFAndTestsTurnItOff() throws {
        let kept = try survivesARestart(appendOnly: true)
        #expect(kept.appendOnly == "yes")
        #expect(kept.fsync == "always", "an acknowledged event must be on disk, not in the page cache")
        #expect(kept.value == "12500")
        let dropped = try survivesARestart(appendOnly: false)
        #expect(dropped.appendOnly == "no")
        #expect(dropped.value == nil, "no AOF and no snapshots: nothing survives")
    }

    @Test func aPasswordIsRequiredWhenOneIsSet() throws {
        let launcher = Launcher(logs: .files(in: directory))
        let options = RedisServerOptions(port: freePort(), directory: directory, appendOnly: false, password: "s3cret")
        try launcher.startRedis(options)
        defer { launcher.stopAll() }
        #expect(options.url == "redis://:s3cret@127.0.0.1:\(options.port)")
        #expect(try RedisConnection(url: options.url).send("PING") == .status("PONG"))
        #expect(throws: RedisError.self) { try RedisConnection(url: "redis://127.0.0.1:\(options.port)").send("GET", "x") }
    }

    @Test func processesStopLastStartedFirst() throws {
        let launcher = Launcher(logs: .files(in: directory))
        let order = directory.appendingPathComponent("order")
        for name in ["first", "second", "third"] {
            // Writes its name when asked to stop (SIGTERM), then exits.
            try launcher.start(name, URL(fileURLWithPath: "/bin/sh"), [
                "-c", "trap 'echo \(name) >> \(order.path); exit 0' TERM; echo up; while :; do sleep 0.05; done",
            ])
        }
        for (name, process) in launcher.processes {
            try launcher.waitUntil("\(name) to start", seconds: 10, answeredBy: process) { process.output.contains("up") }
        }
        var announced: [String] = []
        launcher.stopAll { announced.append($0) }
        #expect(announced == ["third", "second", "first"])
        #expect(try String(contentsOf: order, encoding: .utf8) == "third\nsecond\nfirst\n")
        #expect(launcher.processes.isEmpty)
    }

    @Test func aProcessThatDiesWhileAwaitedIsReportedAtOnceWithItsOutput() throws {
        let launcher = Launcher(logs: .files(in: directory))
        let process = try launcher.start("ingestion", URL(fileURLWithPath: "/bin/sh"), ["-c", "echo 'cannot bind tcp://*:5555'; exit 3"])
        let started = Date()
        let error = #expect(throws: LaunchError.self) {
            try launcher.waitUntil("tally-ingestion at tcp://127.0.0.1:5555", seconds: 20, answeredBy: process) { false }
        }
        #expect(Date().timeIntervalSince(started) < 5, "reported when it exits, not when the wait runs out")
        #expect(error?.description == "ingestion exited with code 3:\ncannot bind tcp://*:5555\n")
        #expect(launcher.exited?.name == "ingestion")
    }

    @Test func aServiceThatIsNotBuiltNamesTheBuildCommand() throws {
        let error = #expect(throws: LaunchError.self) { try Executables.tally("tally-nonexistent") }
        #expect(error?.description.hasSuffix("tally-nonexistent is not built; run `swift build --product tally-nonexistent`") == true)
    }
}
