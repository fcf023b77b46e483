import ArgumentParser

@main
struct Tally: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally",
        abstract: "Tally, the real-time sales leaderboard: run the stack, send activities, read boards, run contests.",
        discussion: "Options can also be set as TALLY_<OPTION>, e.g. TALLY_ADMIN_TOKEN.",
        subcommands: [
            Up.self, Send.self, Simulate.self, Top.self, Rank.self, Watch.self, ContestCommand.self, TokenCommand.self,
            FieldKeyCommand.self, EventCommand.self, Activity.self, QuotaCommand.self, Keys.self, Bench.self,
        ])
}
