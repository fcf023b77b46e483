import Foundation
import TallyTesting
import Testing
import ZeroMQ

/// docs/protocol.md's field-app examples, run as written against a stack whose front door
/// takes CURVE: the Python one with Debian's pyzmq, the Swift one compiled here (its text must
/// be in this file exactly as the doc has it).
@Suite(.serialized) struct ProtocolExampleTests {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The first fenced block of `language` after `heading` in docs/protocol.md.
    func example(_ language: String, after heading: String) throws -> String {
        let doc = try String(contentsOf: root.appendingPathComponent("docs/protocol.md"), encoding: .utf8)
        let section = try #require(doc.range(of: heading), "docs/protocol.md has no \(heading)")
        let rest = doc[section.upperBound...]
        let start = try #require(rest.range(of: "```\(language)\n"))
        let end = try #require(rest[start.upperBound...].range(of: "```"))
        return String(rest[start.upperBound..<end.lowerBound])
    }

    @Test func thePythonExampleSendsAnEventOverCURVE() throws {
        let stack = try TallyStack(keys: try StackKeys.generate())
        try stack.startIngestion()
        try stack.startWorker()
        let script = stack.directory.appendingPathComponent("example.py")
        try example("python", after: "## Example (Python, pyzmq)").write(to: script, atomically: true, encoding: .utf8)
        let keys = try #require(stack.services.keys)
        let python = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/python3"), [script.path],
            environment: [
                "TALLY_SERVER_KEY": keys.frontDoor.publicKey, "TALLY_FIELD_SECRET_KEY": keys.field.secretKey,
                "TALLY_INGESTION": stack.endpoint,
            ],
            logFile: stack.directory.appendingPathComponent("example.log"))
        #expect(python.wait() == 0, "\(python.output)")
        #expect(python.output.contains("'ok': True"), "\(python.output)")
        #expect(python.output.contains("'status': 'accepted'"), "\(python.output)")
        // It landed in the key's org (the tools' key is registered for default), 10 points for a demo.
        let points = try stack.redis.connection().send("ZSCORE", "{default}:board:points:all:reps:all", "ana").string
        #expect(points.flatMap(Double.init) == 10)
    }

    @Test func theSwiftExampleSendsAnEventOverCURVE() throws {
        let stack = try TallyStack(keys: try StackKeys.generate())
        try stack.startIngestion()
        try stack.startWorker()
        let stackKeys = try #require(stack.services.keys)
        let (secretKey, serverKey, ingestion) = (stackKeys.field.secretKey, stackKeys.frontDoor.publicKey, stack.endpoint)

        // From docs/protocol.md, "Example (Swift, Tally's ZeroMQ library)":
        let keys = CurveKeyPair(secretKey: secretKey)!  // this app's own key pair, from its secret key
        let socket = try Socket(.req, options: keys.clientOptions(serverKey: serverKey) + [.receiveTimeout(milliseconds: 5_000)])
        try socket.connect(ingestion)
        try socket.send(Data(#"{"id": "e-1001", "rep": "ana", "kind": "demo"}"#.utf8))
        let reply = try socket.receive().map { String(decoding: $0[0], as: UTF8.self) }
        // {"ok":true,"results":[{"id":"e-1001","status":"accepted"}]}

        let answer = try #require(try reply.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any])
        #expect(answer["ok"] as? Bool == true)
        #expect(answer["results"] as? [[String: String]] == [["id": "e-1001", "status": "accepted"]])
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let documented = try example("swift", after: "## Example (Swift, Tally's ZeroMQ library)")
        let indented = documented.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "        " + $0 }.joined(separator: "\n")
        #expect(source.contains(indented), "the Swift example in docs/protocol.md is the code this test runs")
    }
}
