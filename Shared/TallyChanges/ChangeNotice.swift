/// What scoring tells notification after a commit: which boards of which org changed, and
/// the deals won. Published as two frames: the org, then this as JSON.
package struct ChangeNotice: Codable, Sendable, Equatable {
    package struct BoardChange: Codable, Sendable, Equatable {
        package var board: String
        package var period: String

        package init(board: String, period: String) {
            self.board = board
            self.period = period
        }
    }

    package struct Deal: Codable, Sendable, Equatable {
        package var rep: String
        package var name: String
        package var team: String?
        package var value: Double
        package var at: String

        package init(rep: String, name: String, team: String?, value: Double, at: String) {
            self.rep = rep
            self.name = name
            self.team = team
            self.value = value
            self.at = at
        }
    }

    package var type = "changes"
    package var org: String
    package var boards: [BoardChange]
    package var deals: [Deal]

    package init(org: String, boards: [BoardChange], deals: [Deal]) {
        self.org = org
        self.boards = boards
        self.deals = deals
    }
}
