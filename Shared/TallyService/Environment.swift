import Foundation

/// Option defaults from `TALLY_<OPTION>` variables, so every flag can also be set in the
/// environment: `--redis-url` reads `TALLY_REDIS_URL`.
package enum Environment {
    package static func value(_ option: String) -> String? {
        let name = "TALLY_" + option.uppercased().replacingOccurrences(of: "-", with: "_")
        return ProcessInfo.processInfo.environment[name]
    }

    package static func string(_ option: String, default fallback: String) -> String {
        value(option) ?? fallback
    }

    package static func int(_ option: String, default fallback: Int) -> Int {
        value(option).flatMap { Int($0) } ?? fallback
    }

    /// The items of a comma-separated option value, e.g. `--notify tcp://a:5557,tcp://b:5557`.
    package static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
