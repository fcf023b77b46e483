import ArgumentParser
import Foundation
import TallyService
import ZeroMQ

/// One request/reply exchange over ZeroMQ (REQ), as the CLI talks to ingestion and leaderboard.
struct Client {
    let endpoint: String
    var timeout: Int32 = 5_000
    /// What else the socket needs, such as CURVE keys.
    var options: [SocketOption] = []

    /// Sends a JSON object and returns the reply object, or throws a message that says what to do.
    func ask(_ request: [String: Any]) throws -> [String: Any] {
        let socket = try Socket(.req, options: [.linger(milliseconds: 0), .receiveTimeout(milliseconds: timeout)] + options)
        try socket.connect(endpoint)
        try socket.send(try JSONSerialization.data(withJSONObject: request))
        guard let frames = try socket.receive() else {
            throw ValidationError("no answer from \(endpoint) within \(timeout / 1000) s; is the stack running (`tally up`)?")
        }
        guard let reply = try JSONSerialization.jsonObject(with: frames[0]) as? [String: Any] else {
            throw ValidationError("\(endpoint) answered something that is not a JSON object")
        }
        return reply
    }

    /// Like `ask`, but an `{"ok": false}` answer becomes the error.
    func require(_ request: [String: Any]) throws -> [String: Any] {
        let reply = try ask(request)
        if reply["ok"] as? Bool == false { throw ValidationError(reply["error"] as? String ?? "refused") }
        return reply
    }
}

/// Prints a list of entries as an aligned table: rank, name, score (with attainment where the
/// member has a quota).
func printEntries(_ answer: [String: Any]) {
    let entries = answer["entries"] as? [[String: Any]] ?? []
    print("\(answer["board"] ?? "") · \(answer["period"] ?? "") · \(answer["total"] ?? 0) on the board")
    for entry in entries {
        let rank = String(describing: entry["rank"] ?? "")
        let name = entry["name"] as? String ?? ""
        let score = (entry["score"] as? Double).map {
            formatScore($0, target: entry["target"] as? Double, attainment: entry["attainment"] as? Double)
        } ?? ""
        print("\(String(repeating: " ", count: max(0, 4 - rank.count)))\(rank)  \(name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(score)")
    }
}

/// A score with the member's attainment where it has a quota, attainment first as the
/// attainment boards rank by it: " 75%  3000 of 4000".
func formatScore(_ score: Double, target: Double?, attainment: Double?) -> String {
    guard let target, let attainment else { return formatScore(score) }
    let percent = formatPercent(attainment)
    return "\(String(repeating: " ", count: max(0, 5 - percent.count)))\(percent)  \(formatScore(score)) of \(formatScore(target))"
}

/// Attainment as a whole percentage, rounded down so that 100% means the target is reached
/// (the small allowance keeps 0.29 from printing as 28%).
func formatPercent(_ attainment: Double) -> String {
    "\(Int((attainment * 100 + 1e-9).rounded(.down)))%"
}

func formatScore(_ score: Double) -> String {
    score == score.rounded() && abs(score) < 1e15 ? String(Int64(score)) : String(format: "%.2f", score)
}
