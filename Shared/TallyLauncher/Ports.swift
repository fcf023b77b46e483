import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP port on 127.0.0.1 that nothing is bound to right now, for a server about to start.
///
/// Taken from below the kernel's ephemeral range (`ip_local_port_range`), in turn from a
/// random start, never the same twice in a process while the range lasts: a port the kernel
/// picked itself (binding port 0) is one it may hand the very next outgoing connection, which
/// then holds it when the server binds ("Address already in use": a cluster node's bus port
/// was lost that way). Falls back to the kernel's pick where that range is too small.
package func freePort() -> Int {
    if let port = PortTurns.shared.next() { return port }
    return kernelPickedPort()
}

private final class PortTurns: Sendable {
    static let shared = PortTurns()
    private let range: Range<Int>?
    private let turn = Mutex(0)

    private init() {
        // Below the ephemeral range, and above the well-known and common fixed ports.
        let low = Self.ephemeralLow() ?? 32_768
        let first = 20_000
        range = low - first >= 1_000 ? first..<low : nil
        turn.withLock { $0 = Int.random(in: 0..<(range?.count ?? 1)) }
    }

    func next() -> Int? {
        guard let range else { return nil }
        for _ in 0..<range.count {
            let port = turn.withLock { turn -> Int in
                defer { turn = (turn + 1) % range.count }
                return range.lowerBound + turn
            }
            if canBind(port) { return port }
        }
        return nil
    }

    private static func ephemeralLow() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8) else { return nil }
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) }
    }
}

/// Whether 127.0.0.1:`port` can be bound now (nothing holds it, not even in TIME_WAIT).
private func canBind(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// A port the kernel picks (binding port 0).
private func kernelPickedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0, "socket() failed")
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    precondition(bound, "bind() to a free port failed")
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
package func isListening(port: Int) -> Bool {
    guard let fd = connectLoopback(port: port) else { return false }
    close(fd)
    return true
}

/// A TCP connection to 127.0.0.1:`port`: its file descriptor (the caller closes it), or nil.
package func connectLoopback(port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    guard connected else {
        close(fd)
        return nil
    }
    return fd
}
