/// Who a board ranks.
package enum Scope: String, Sendable, CaseIterable, Codable {
    case reps, teams
}
