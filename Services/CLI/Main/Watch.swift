import ArgumentParser
import Foundation
import TallyService
import ZeroMQ
#if canImport(Glibc)
import Glibc
#endif

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live leaderboard in the terminal, e.g. `tally watch points:today:reps`.",
        discussion: """
            Subscribes to tally-notification's ZeroMQ stream and redraws the board in place on every
            update, with arrows for rank changes and the org's latest deals and contest news below.
            When the output is not a terminal, each board is printed as a block instead.
            """)

    @Argument(help: "<metric>:<window>:<scope> or contest:<id>") var board: String
    @Option(help: "tally-notification's ZeroMQ displays endpoint.") var displays = Environment.string("displays", default: "tcp://127.0.0.1:5560")
    @Option(help: "Organization.") var org = Environment.string("org", default: "default")
    @Option(help: "How many entries to show.") var rows = 15
    @Option(help: "Stop after this many board messages (snapshot included); 0: run until Ctrl-C.") var count = 0

    func validate() throws {
        guard rows >= 1 else { throw ValidationError("--rows: must be at least 1, got \(rows)") }
        guard count >= 0 else { throw ValidationError("--count: must be 0 (run until Ctrl-C) or more, got \(count)") }
    }

    func run() throws {
        let topic = "\(org)/\(board)"
        let events = "\(org)/_events"
        let socket = try Socket(.sub, options: [
            .subscribe(Data(topic.utf8)), .subscribe(Data(events.utf8)), .receiveTimeout(milliseconds: 1000),
            .maxMessageSize(1 << 22),
        ])
        try socket.connect(displays)
        let terminal = isatty(STDOUT_FILENO) == 1
        var last: WatchedBoard?
        var news: [String] = []
        var received = 0
        var waiting = Date()

        while count == 0 || received < count {
            guard let frames = try socket.receive(), frames.count == 2,
                let message = try? JSONSerialization.jsonObject(with: frames[1]) as? [String: Any]
            else {
                if last == nil, Date().timeIntervalSince(waiting) > 5 {
                    FileHandle.standardError.write(Data("tally watch: nothing from \(displays) yet; is tally-notification running?\n".utf8))
                    waiting = Date()
                }
                continue
            }
            let type = message["type"] as? String ?? ""
            // Topics match by prefix: `default/contest:q4` also brings `default/contest:q4-final`.
            let messageTopic = String(decoding: frames[0], as: UTF8.self)
            if messageTopic == events {
                // Other messages of the org's channel (activity, corrections) change nothing shown here.
                guard let line = Self.news(message) else { continue }
                news = Array(([line] + news).prefix(5))
                if let last { draw(last, news: news, terminal: terminal) }
                continue
            }
            guard messageTopic == topic else { continue }
            switch type {
            case "snapshot", "update":
                let board = WatchedBoard(message)
                if type == "update", let last, board.seq != last.seq + 1 {
                    // A gap: subscribing again brings a fresh snapshot.
                    try socket.set(.unsubscribe(Data(topic.utf8)))
                    try socket.set(.subscribe(Data(topic.utf8)))
                    continue
                }
                last = board
                received += 1
                draw(board, news: news, terminal: terminal)
            case "error":
                throw ValidationError("\(message["error"] as? String ?? "the board cannot be watched")")
            default:
                continue
            }
        }
    }

    private func draw(_ board: WatchedBoard, news: [String], terminal: Bool) {
        var lines = ["\(board.board) · \(board.period) · \(board.total) on the board · #\(board.seq)"]
        for entry in board.entries.prefix(rows) {
            let rank = String(entry.rank)
            let arrow = board.moves[entry.member].map { from in from.map { $0 > entry.rank ? "▲" : "▼" } ?? "★" } ?? " "
            lines.append("\(String(repeating: " ", count: max(0, 4 - rank.count)))\(rank) \(arrow) \(entry.name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(formatScore(entry.score, target: entry.target, attainment: entry.attainment))")
        }
        if board.entries.isEmpty { lines.append("   (no activity yet)") }
        if !news.isEmpty { lines.append("") ; lines += news }
        let text = terminal ? "\u{1B}[H\u{1B}[2J" + lines.joined(separator: "\n") + "\n" : lines.joined(separator: "\n") + "\n\n"
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// A line for a deal or a contest message.
    private static func news(_ message: [String: Any]) -> String? {
        switch message["type"] as? String {
        case "deal":
            return "deal: \(message["name"] as? String ?? "?") won \((message["value"] as? Double).map(formatScore) ?? "?")"
        case "milestone":
            return "milestone: \(message["name"] as? String ?? "?") reached \((message["milestone"] as? Double).map(formatPercent) ?? "?") on \(message["board"] as? String ?? "?")"
        case "contest":
            var line = "contest: \(message["name"] as? String ?? "?") is \(message["state"] as? String ?? "?")"
            if let winners = message["winners"] as? [[String: Any]], !winners.isEmpty {
                line += " — won by " + winners.compactMap { $0["name"] as? String }.joined(separator: ", ")
            }
            return line
        default:
            return nil
        }
    }
}

/// A board message as `tally watch` shows it.
private struct WatchedBoard {
    struct Entry {
        let rank: Int
        let member: String
        let name: String
        let score: Double
        let target: Double?
        let attainment: Double?
    }

    let board: String
    let period: String
    let seq: Int
    let total: Int
    let entries: [Entry]
    /// Member → the rank it came from (nil: new in the top).
    let moves: [String: Int?]

    init(_ message: [String: Any]) {
        board = message["board"] as? String ?? ""
        period = message["period"] as? String ?? ""
        seq = message["seq"] as? Int ?? 0
        total = message["total"] as? Int ?? 0
        entries = (message["entries"] as? [[String: Any]] ?? []).map {
            Entry(
                rank: $0["rank"] as? Int ?? 0, member: $0["member"] as? String ?? "", name: $0["name"] as? String ?? "",
                score: $0["score"] as? Double ?? 0, target: $0["target"] as? Double, attainment: $0["attainment"] as? Double)
        }
        var moves: [String: Int?] = [:]
        for move in message["moves"] as? [[String: Any]] ?? [] {
            guard let member = move["member"] as? String, move["to"] is Int else { continue }
            moves[member] = move["from"] as? Int
        }
        self.moves = moves
    }
}
