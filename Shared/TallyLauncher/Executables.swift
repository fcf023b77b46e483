import Foundation

/// Finding the programs Tally runs: its own executables, and system ones like redis-server.
package enum Executables {
    /// The directory this process's executable is in (where SwiftPM puts all of Tally's).
    package static var ownDirectory: URL {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: path).deletingLastPathComponent()
    }

    /// One of Tally's executables (`tally-scoring`, `tally-bench`, ...), from the directory this
    /// process's executable is in: SwiftPM builds them all into one.
    package static func tally(_ product: String) throws -> URL {
        var directory = ownDirectory
        // swift test runs `<build>/debug/tallyPackageTests.xctest`; the executables sit beside it.
        if directory.lastPathComponent.hasSuffix(".xctest") { directory = directory.deletingLastPathComponent() }
        let url = directory.appendingPathComponent(product)
        guard FileManager.default.isExecutableFile(atPath: url.path) else { throw LaunchError.notBuilt(product, at: url.path) }
        return url
    }

    /// A program scripts/setup installs, from PATH (or the usual system directories).
    package static func installed(_ name: String) throws -> URL {
        guard let url = onPath(name) else { throw LaunchError.notInstalled(name) }
        return url
    }

    /// The full path of a program on PATH (or in the usual system directories), nil if none.
    package static func onPath(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin"]
        return directories.lazy
            .map { URL(fileURLWithPath: $0).appendingPathComponent(name) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}
