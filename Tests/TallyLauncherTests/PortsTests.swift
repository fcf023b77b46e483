import Foundation
import TallyLauncher
import Testing

/// Ports for servers about to start: never one the kernel may give an outgoing connection
/// meanwhile (a cluster node's bus port was lost that way, "Address already in use"), and
/// never the same one twice.
@Suite struct PortsTests {
    @Test func aServersPortIsOutsideTheEphemeralRangeAndNeverHandedOutTwice() throws {
        let text = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        let ephemeral = try #require(bounds.count == 2 ? bounds[0]...bounds[1] : nil)
        var seen: Set<Int> = []
        for _ in 0..<500 {
            let port = freePort()
            #expect(!ephemeral.contains(port), "\(port) is in the kernel's ephemeral range \(ephemeral)")
            #expect(seen.insert(port).inserted, "\(port) handed out twice")
        }
    }
}
