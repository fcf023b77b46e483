import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Thread {
    /// Names the calling thread, for the OS too (15 bytes on Linux). Foundation's
    /// `Thread.current.name = …` reaches the OS only if the parent's `start()` has already
    /// returned, so a new thread that runs first would keep no name. (The Redis module, which
    /// does not depend on this one, has the same.)
    static func nameCurrent(_ name: String) {
        Thread.current.name = name
        #if os(Linux)
        // (Glibc's pthread_setname_np is not visible to Swift: it needs _GNU_SOURCE.)
        let fd = open("/proc/thread-self/comm", O_WRONLY)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        #endif
    }
}
