/// A sales floor's day in activities, door knocks most, deals rarely: what `tally simulate`,
/// `tally up --demo` and the benchmark send.
package enum ActivityMix {
    /// Kinds with their share of the day, in percent (they add up to 100).
    package static let day: [(kind: String, share: Double)] = [
        ("door_knock", 45), ("call", 30), ("email", 8), ("appointment", 8), ("demo", 5), ("proposal", 2.5), ("deal_won", 1.5),
    ]

    /// The kind a roll of 0..<100 falls on.
    package static func kind(at roll: Double) -> String {
        var rest = roll
        return day.first { rest -= $0.share; return rest < 0 }?.kind ?? "call"
    }
}
