import ArgumentParser
import TallyService

/// Where tally-leaderboard is, which org, and the credential to present: an org token
/// (`--token`, TALLY_TOKEN) or the admin token (`--admin-token`, TALLY_ADMIN_TOKEN).
struct LeaderboardOptions: ParsableArguments {
    @Option(help: "tally-leaderboard's ZeroMQ endpoint.") var leaderboard = Environment.string("leaderboard", default: "tcp://127.0.0.1:5558")
    @Option(help: "Organization.") var org = Environment.string("org", default: "default")
    @Option(name: .customLong("token"), help: "An org token (viewer: reads; organizer: also contests and field keys).")
    var tokenOption: String?
    @Option(name: .customLong("admin-token"), help: "The admin token (everything, org tokens included).") var adminTokenOption: String?

    /// What was given on the command line first (the org token, then the admin token), then
    /// what the environment has, in the same order: a flag always beats a variable.
    var credential: String? {
        tokenOption ?? adminTokenOption ?? Environment.value("token") ?? Environment.value("admin-token")
    }

    /// Asks for `op` in the org with the credential; an `{"ok": false}` answer becomes the error.
    func ask(_ op: String, _ fields: [String: Any]) throws -> [String: Any] {
        var request = fields
        request["op"] = op
        request["org"] = org
        request["token"] = credential
        return try Client(endpoint: leaderboard).require(request)
    }
}
