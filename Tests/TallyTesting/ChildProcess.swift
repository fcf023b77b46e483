import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A program run as a child process with its output in a log file.
///
/// Spawned with an empty signal mask and default handlers: threads of a Swift process block
/// signals, and a child would otherwise inherit that mask and ignore SIGTERM.
package final class ChildProcess: @unchecked Sendable {
    // `@unchecked`: `pid` and `status` change only in `wait`/`kill`, which the owning test
    // calls from one task at a time.
    package let pid: pid_t
    package let logFile: URL
    private var status: Int32?

    package init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], logFile: URL) throws {
        self.logFile = logFile
        FileManager.default.createFile(atPath: logFile.path, contents: nil)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile.path, O_WRONLY | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let argv = [executable.path] + arguments
        let envp = env.map { "\($0)=\($1)" }
        var pid: pid_t = 0
        let rc = withCStrings(argv) { argvPointers in
            withCStrings(envp) { envPointers in
                posix_spawn(&pid, executable.path, &actions, &attributes, argvPointers, envPointers)
            }
        }
        guard rc == 0 else { throw TestSetupError("spawn \(executable.path): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            _ = wait()
        }
    }

    /// Sends a signal (SIGTERM to stop, SIGKILL to kill).
    package func signal(_ signal: Int32) {
        if status == nil { kill(pid, signal) }
    }

    /// Waits for the process to exit and returns its wait status.
    @discardableResult
    package func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
        status = raw
        return raw
    }

    /// The exit code, once exited normally (nil while running or when killed by a signal).
    package var exitCode: Int32? {
        guard let status, status & 0x7f == 0 else { return nil }
        return (status >> 8) & 0xff
    }

    /// Whether the process is still running.
    package var isRunning: Bool {
        if status != nil { return false }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid {
            status = raw
            return false
        }
        return true
    }

    /// Everything the process printed so far.
    package var output: String {
        (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
    }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
