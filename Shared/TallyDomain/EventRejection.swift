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

extension String {
    /// The value as an error message quotes it: in single quotes, at most its first 64
    /// characters (Unicode scalars, as SPEC counts lengths), then "…". Whatever a client sends,
    /// the error that names it stays small.
    package var quoted: String {
        let scalars = unicodeScalars
        guard scalars.count > 64 else { return "'\(self)'" }
        var head = String.UnicodeScalarView()
        head.append(contentsOf: scalars.prefix(64))
        return "'\(String(head))…'"
    }
}
