import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Thread {
    /// Names the calling thread, for the OS too (`/proc/self/task/*/comm`, `top -H`; 15 bytes
    /// on Linux). Foundation's `Thread.current.name = …` reaches the OS only if the parent's
    /// `start()` has already returned, so a new thread that runs first would keep no name.
    package static func nameCurrent(_ name: String) {
        Thread.current.name = name
        #if os(Linux)
        let fd = open("/proc/thread-self/comm", O_WRONLY)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        #endif
    }
}
