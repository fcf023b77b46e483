/// One of the services a local stack runs, in the order they start: notification first, so
/// that scoring's and leaderboard's publishers find its changes endpoint bound.
package enum StackService: String, Sendable, CaseIterable {
    case notification, ingestion, scoring, leaderboard

    /// Its executable, built beside every other Tally executable.
    package var product: String { "tally-\(rawValue)" }
}
