import Foundation
import TallyTesting
import Testing
import Yams

/// No Docker engine runs here, so this checks what can be checked of compose/: the file
/// parses, every service runs an executable this package builds, with options it knows, on
/// the SPEC's ports.
@Suite struct ComposeTests {
    let compose: [String: Any]

    init() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
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
        #expect(services["notification"]?["ports"] as? [String] == ["5560:5560", "8090:8090"])
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
}
