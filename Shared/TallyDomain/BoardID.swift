/// A board id: `<metric>:<window>:<scope>`.
package struct BoardID: Sendable, Hashable, CustomStringConvertible {
    package let metric: String
    package let window: Window
    package let scope: Scope

    package init(metric: String, window: Window, scope: Scope) {
        self.metric = metric
        self.window = window
        self.scope = scope
    }

    package init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let window = Window(rawValue: String(parts[1])),
            let scope = Scope(rawValue: String(parts[2]))
        else { return nil }
        self.init(metric: String(parts[0]), window: window, scope: scope)
    }

    package var description: String { "\(metric):\(window.rawValue):\(scope.rawValue)" }

    /// The id of the board that ranks this board's members by score ÷ target:
    /// `attainment:revenue:month:reps`.
    package var attainment: String { "\(Self.attainmentPrefix)\(description)" }

    package static let attainmentPrefix = "attainment:"

    /// The metric board an attainment board's id (`attainment:revenue:month:reps`) ranks; nil
    /// for any other id.
    package init?(attainment text: String) {
        guard text.hasPrefix(Self.attainmentPrefix) else { return nil }
        self.init(String(text.dropFirst(Self.attainmentPrefix.count)))
    }
}
