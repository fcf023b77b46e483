/// A score kept on boards: a weighted sum over activity kinds.
package struct Metric: Sendable, Equatable {
    package enum Weight: Sendable, Equatable {
        /// A fixed number of points per event.
        case points(Double)
        /// The event's `value` (a deal's amount).
        case value
    }

    package let name: String
    package let weights: [String: Weight]

    package init(name: String, weights: [String: Weight]) {
        self.name = name
        self.weights = weights
    }

    /// What one event adds, or nil when its kind does not count for this metric.
    package func amount(kind: String, value: Double) -> Double? {
        switch weights[kind] {
        case .points(let points): points
        case .value: value
        case nil: nil
        }
    }
}
