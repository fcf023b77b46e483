import ArgumentParser
import TallyService
import ZeroMQ

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the top of a board, e.g. `tally top points:today:reps`.")

    @Argument(help: "<metric>:<window>:<scope> or contest:<id>") var board: String
    @OptionGroup var connection: LeaderboardOptions
    @Option(help: "How many entries.") var limit = 10
    @Option(help: "A past period, e.g. 2026-11-28 or 2026-W48.") var period: String?

    func run() throws {
        var request: [String: Any] = ["board": board, "limit": limit]
        request["period"] = period
        printEntries(try connection.ask("top", request))
    }
}

struct Rank: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a member's rank on a board.")

    @Argument(help: "<metric>:<window>:<scope> or contest:<id>") var board: String
    @Argument(help: "Rep or team id.") var member: String
    @OptionGroup var connection: LeaderboardOptions

    func run() throws {
        let answer = try connection.ask("rank", ["board": board, "member": member])
        print("\(member): rank \(answer["rank"] ?? "?") of \(answer["total"] ?? "?") with \((answer["score"] as? Double).map(formatScore) ?? "?") on \(board) (\(answer["period"] ?? ""))")
    }
}

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a new CURVE key pair (Z85) for securing ZeroMQ endpoints.")

    func run() throws {
        let pair = try CurveKeyPair.generate()
        print("public: \(pair.publicKey)")
        print("secret: \(pair.secretKey)")
    }
}
