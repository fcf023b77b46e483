/// Why an event was refused: the field and the rule it broke, as a client reads it.
package struct EventRejection: Error, Sendable, Equatable, CustomStringConvertible {
    package let field: String
    package let rule: String

    package init(_ field: String, _ rule: String) {
        self.field = field
        self.rule = rule
    }

    /// `"value: must be finite and between 0 and 1e12"`.
    package var description: String { "\(field): \(rule)" }
}
