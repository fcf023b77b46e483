import Foundation

/// A process of a local stack could not be started, or did not come up.
package struct LaunchError: Error, CustomStringConvertible {
    private enum Base {
        case spawn(path: String, reason: String)
        case notInstalled(program: String)
        case notBuilt(product: String, path: String)
        case noAnswer(what: String, seconds: Double)
        /// `status` as waitpid gives it.
        case exited(name: String, status: Int32, output: String)
        case keys(String)
    }

    private let base: Base

    private init(_ base: Base) { self.base = base }

    static func spawn(_ path: String, _ reason: String) -> LaunchError { LaunchError(.spawn(path: path, reason: reason)) }
    static func notInstalled(_ program: String) -> LaunchError { LaunchError(.notInstalled(program: program)) }
    static func notBuilt(_ product: String, at path: String) -> LaunchError { LaunchError(.notBuilt(product: product, path: path)) }
    static func noAnswer(_ what: String, within seconds: Double) -> LaunchError { LaunchError(.noAnswer(what: what, seconds: seconds)) }
    static func exited(_ name: String, status: Int32, output: String) -> LaunchError {
        LaunchError(.exited(name: name, status: status, output: output))
    }

    static func keys(_ problem: String) -> LaunchError { LaunchError(.keys(problem)) }

    package var description: String {
        switch base {
        case .spawn(let path, let reason):
            "cannot start \(path): \(reason)"
        case .notInstalled(let program):
            "\(program) is not installed; run scripts/setup"
        case .notBuilt(let product, let path):
            "\(path) is not built; run `swift build --product \(product)`"
        case .noAnswer(let what, let seconds):
            "\(what) did not answer within \(Int(seconds)) s"
        case .keys(let problem):
            problem
        case .exited(let name, let status, let output):
            // `status` as waitpid gives it: an exit code, or the signal that killed it.
            (status & 0x7f == 0 ? "\(name) exited with code \((status >> 8) & 0xff)" : "\(name) was killed by signal \(status & 0x7f)")
                + (output.isEmpty ? "" : ":\n\(output)")
        }
    }
}
