import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A program run as a child process, its output in a log file or passed on line by line to
/// our stderr behind a prefix (`[scoring-1] ...`).
///
/// Spawned with an empty signal mask and default handlers: threads of a Swift process block
/// signals, and a child would otherwise inherit that mask and ignore SIGTERM.
package final class ChildProcess: @unchecked Sendable {
    // `@unchecked`: `status` changes only in `wait`/`isRunning`, which the owner calls from one
    // task at a time; the prefixing thread touches nothing but its pipe and stderr.
    package let pid: pid_t
    package let logFile: URL?
    private var status: Int32?

    package enum Output {
        /// Appended to this file.
        case file(URL)
        /// Each line written to our stderr behind this prefix.
        case prefixed(String)
    }

    package convenience init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], logFile: URL) throws {
        try self.init(executable, arguments, environment: environment, output: .file(logFile))
    }

    /// `ownProcessGroup`: the child does not get the terminal's Ctrl-C, so its parent can stop
    /// children in its own order.
    package init(
        _ executable: URL, _ arguments: [String], environment: [String: String] = [:], output: Output,
        ownProcessGroup: Bool = false
    ) throws {
        var pipeFDs: [Int32] = [-1, -1]
        switch output {
        case .file(let url):
            logFile = url
            FileManager.default.createFile(atPath: url.path, contents: nil)
        case .prefixed:
            logFile = nil
            guard pipe(&pipeFDs) == 0 else { throw LaunchError.spawn(executable.path, String(cString: strerror(errno))) }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownProcessGroup {
            flags |= POSIX_SPAWN_SETPGROUP
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let logFile {
            posix_spawn_file_actions_addopen(&actions, 1, logFile.path, O_WRONLY | O_APPEND, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
            posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
        }
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
        guard rc == 0 else { throw LaunchError.spawn(executable.path, String(cString: strerror(rc))) }
        self.pid = pid
        if case .prefixed(let prefix) = output {
            close(pipeFDs[1])
            Self.forward(pipeFDs[0], prefix: prefix)
        }
    }

    /// Copies a pipe to stderr line by line, each line behind `prefix`, until the child closes it.
    private static func forward(_ fd: Int32, prefix: String) {
        let thread = Thread {
            let input = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            var pending = Data()
            while true {
                let chunk = input.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 10) {
                    let line = pending[pending.startIndex...newline]
                    FileHandle.standardError.write(Data(prefix.utf8) + line)
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            if !pending.isEmpty { FileHandle.standardError.write(Data(prefix.utf8) + pending + Data([10])) }
        }
        thread.name = "output \(prefix)"
        thread.start()
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

    /// Asks the process to stop (SIGTERM) and waits up to `seconds` before killing it.
    @discardableResult
    package func stop(within seconds: Double = 15) -> Int32 {
        signal(SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if isRunning { signal(SIGKILL) }
        return wait()
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

    /// Everything the process printed so far (when it prints to a log file).
    package var output: String {
        logFile.flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? ""
    }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
