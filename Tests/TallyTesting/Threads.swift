import Foundation

/// How many of this process's threads have a name that starts with `prefix` (Linux's
/// `/proc/self/task/*/comm`): for tests of what starts and ends threads.
package func threads(named prefix: String) -> Int {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.filter { task in
        ((try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? "").hasPrefix(prefix)
    }.count
}

/// Polls `condition` from async code until it holds, or fails after `seconds`.
package func waitUntil(_ what: String, seconds: Double = 10, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestSetupError("timed out after \(seconds) s waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}
