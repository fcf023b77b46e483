import Foundation
import TallyTesting
import Testing
import Yams

/// No Docker engine runs here, so this checks what can be checked of compose/: the file
/// parses, every service runs an executable this package builds, with options it knows, on
/// the SPEC's ports; and the image's build steps (compose/build-binaries) produce every
/// executable the image runs.
@Suite struct ComposeTests {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let compose: [String: Any]

    init() throws {
        let text = try String(contentsOf: root.appendingPathComponent("compose/docker-compose.yml"), encoding: .utf8)
        compose = try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    var services: [String: [String: Any]] { compose["services"] as? [String: [String: Any]] ?? [:] }

    @Test func everyTallyServiceRunsAnOptionItsExecutableKnows() throws {
        let stack = try TallyStack()
        for name in ["ingestion", "scoring", "leaderboard", "notification"] {
            let command = try #require(services[name]?["command"] as? [String], "\(name) has no command")
            let executable = try stack.binary(command[0])
            let help = try ChildProcess(executable, ["--help"], logFile: stack.directory.appendingPathComponent("\(name)-help.txt"))
            help.wait()
            for flag in command.dropFirst() where flag.hasPrefix("--") {
                #expect(help.output.contains(flag + " "), "\(command[0]) has no option \(flag)")
            }
        }
    }

    @Test func portsAreTheSpecsAndScoringScales() throws {
        #expect(services["ingestion"]?["ports"] as? [String] == ["5555:5555"])
        #expect(services["leaderboard"]?["ports"] as? [String] == ["8080:8080", "5558:5558"])
        // ZeroMQ displays (5560) present no token: compose serves them only when told to open reads.
        #expect(services["notification"]?["ports"] as? [String] == ["8090:8090"])
        let notification = services["notification"]?["command"] as? [String] ?? []
        #expect(notification.contains("tcp://*:5557"), "notification binds the changes endpoint")
        // Whoever announces changes sends them to notification's changes endpoint.
        for name in ["scoring", "leaderboard"] {
            let command = services[name]?["command"] as? [String] ?? []
            #expect(command.firstIndex(of: "--notify").map { command[$0 + 1] } == "tcp://notification:5557", "\(name)")
        }
        #expect((services["scoring"]?["deploy"] as? [String: Any])?["replicas"] as? Int == 2)
        #expect((services["redis"]?["command"] as? [String])?.contains("--appendonly") == true)
    }

    /// The stack's own sockets listen beyond one container, so every service has the service
    /// key; the front door has its CURVE key; both as secrets that compose/make-keys makes.
    @Test func everyServiceHasTheServiceKeyAndTheFrontDoorItsKey() throws {
        let secrets = compose["secrets"] as? [String: [String: String]] ?? [:]
        #expect(secrets["service_key"]?["file"] == "./secrets/service.key")
        #expect(secrets["front_door_key"]?["file"] == "./secrets/front-door.key")
        for name in ["ingestion", "scoring", "leaderboard", "notification"] {
            let service = try #require(services[name])
            let environment = service["environment"] as? [String: Any] ?? [:]
            #expect(environment["TALLY_SERVICE_SECRET_KEY_FILE"] as? String == "/run/secrets/service_key", "\(name)")
            #expect((service["secrets"] as? [String])?.contains("service_key") == true, "\(name)")
        }
        let ingestion = services["ingestion"]?["environment"] as? [String: Any] ?? [:]
        #expect(ingestion["TALLY_CURVE_SECRET_KEY_FILE"] as? String == "/run/secrets/front_door_key")
        let script = try String(contentsOf: root.appendingPathComponent("compose/make-keys"), encoding: .utf8)
        #expect(script.contains("secrets/$name.key"), "compose/make-keys writes the files the secrets name")
    }

    /// The Dockerfile's build step, run here in debug (so it reuses this suite's own build and
    /// takes seconds): every executable the image's services run, and `tally`, comes out and
    /// starts.
    @Test func theImageBuildStepBuildsEveryExecutableTheImageRuns() throws {
        let dockerfile = try String(contentsOf: root.appendingPathComponent("compose/Dockerfile"), encoding: .utf8)
        #expect(dockerfile.contains("RUN compose/build-binaries /out\n"), "the Dockerfile builds with the script tested here")
        #expect(dockerfile.contains("COPY --from=build /out/ /usr/local/bin/"), "the image gets what the script put in /out")

        let stack = try TallyStack()  // for its scratch directory
        let out = stack.directory.appendingPathComponent("out")
        // The test binary runs from <scratch>/<triple>/debug. `swift test` holds that scratch
        // directory's lock while tests run; the build here only finds everything up to date.
        let scratch = Executables.ownDirectory.deletingLastPathComponent().deletingLastPathComponent()
        let build = try ChildProcess(
            root.appendingPathComponent("compose/build-binaries"), [out.path, "--scratch-path", scratch.path, "--ignore-lock"],
            environment: ["TALLY_BUILD_CONFIGURATION": "debug"], logFile: stack.directory.appendingPathComponent("build-binaries.log"))
        try wait("compose/build-binaries", seconds: 600) { !build.isRunning }
        #expect(build.exitCode == 0, "\(build.output)")

        let built = Set(try FileManager.default.contentsOfDirectory(atPath: out.path))
        let run = ["ingestion", "scoring", "leaderboard", "notification"].compactMap { (services[$0]?["command"] as? [String])?.first }
        #expect(run.count == 4, "every Tally service in compose runs a command")
        #expect(built == Set(run + ["tally"]), "built \(built.sorted())")
        for name in built.sorted() {
            let help = try ChildProcess(out.appendingPathComponent(name), ["--help"], logFile: stack.directory.appendingPathComponent("\(name)-help.txt"))
            #expect(help.wait() == 0 && help.output.contains("USAGE: \(name)"), "\(name) --help:\n\(help.output)")
        }
    }
}

