import Foundation
import Synchronization
import TallyDomain

/// Option defaults from `TALLY_<OPTION>` variables, so every flag can also be set in the
/// environment: `--redis-url` reads `TALLY_REDIS_URL`. A variable that cannot be read as its
/// option's type is remembered, and `validate()` refuses it naming the flag, rather than the
/// default quietly taking its place. A secret can come from a file instead, as Docker and
/// Kubernetes hand them over: `TALLY_SERVICE_SECRET_KEY_FILE=/run/secrets/service_key`.
package enum Environment {
    package static func value(_ option: String) -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let value = environment[variable(option)] { return value }
        guard let path = environment[variable(option) + "_FILE"] else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            problems.withLock {
                $0.append(ConfigurationError(option: option, problem: "\(variable(option))_FILE=\(path.quoted): no such file, or not readable"))
            }
            return nil
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `TALLY_REDIS_URL` for `redis-url`.
    package static func variable(_ option: String) -> String {
        "TALLY_" + option.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    package static func string(_ option: String, default fallback: String) -> String {
        value(option) ?? fallback
    }

    package static func int(_ option: String, default fallback: Int) -> Int {
        guard let text = value(option) else { return fallback }
        guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
            problems.withLock {
                $0.append(ConfigurationError(option: option, problem: "\(variable(option))=\(text.quoted) is not a whole number"))
            }
            return fallback
        }
        return number
    }

    /// `true` or `false` (also `1`/`0`, `yes`/`no`), as `TALLY_OPEN_READS=true` sets `--open-reads`.
    package static func bool(_ option: String, default fallback: Bool) -> Bool {
        guard let text = value(option) else { return fallback }
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no", "": return false
        default:
            problems.withLock {
                $0.append(ConfigurationError(option: option, problem: "\(variable(option))=\(text.quoted) is not true or false"))
            }
            return fallback
        }
    }

    /// Refuses the first `TALLY_*` variable that could not be read, unless its flag was given
    /// on the command line, which then decides.
    package static func validate(arguments: [String] = CommandLine.arguments) throws(ConfigurationError) {
        let given = { (option: String) in arguments.contains { $0 == "--\(option)" || $0.hasPrefix("--\(option)=") } }
        if let problem = problems.withLock({ $0.first { !given($0.option) } }) { throw problem }
    }

    private static let problems = Mutex<[ConfigurationError]>([])

    /// The items of a comma-separated option value, e.g. `--notify tcp://a:5557,tcp://b:5557`.
    package static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
