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
        /// The name the event carried; nil: notification names the rep from the directory.
        package var name: String?
        package var team: String?
        package var value: Double
        package var at: String

        package init(rep: String, name: String?, team: String?, value: Double, at: String) {
            self.rep = rep
            self.name = name
            self.team = team
            self.value = value
            self.at = at
        }
    }

    /// A new event of one of the rules' `feed_kinds`.
    package struct Activity: Codable, Sendable, Equatable {
        package var id: String
        package var rep: String
        /// The name the event carried; nil: notification names the rep from the directory.
        package var name: String?
        package var team: String?
        package var kind: String
        package var value: Double
        package var at: String

        package init(id: String, rep: String, name: String?, team: String?, kind: String, value: Double, at: String) {
            self.id = id
            self.rep = rep
            self.name = name
            self.team = team
            self.kind = kind
            self.value = value
            self.at = at
        }
    }

    /// An event retracted or amended (by the leaderboard).
    package struct Correction: Codable, Sendable, Equatable {
        package var id: String
        /// The rep the event was of before the correction.
        package var rep: String
        /// The name the event carried before the correction; nil: the directory names the rep.
        package var name: String?
        package var status: String
        /// An amended event as now recorded (its `name` as above), so the ticker can show it.
        package var event: Activity?
        /// Whether the amended event's kind is one of the rules' `feed_kinds`.
        package var feed: Bool?

        package init(id: String, rep: String, name: String? = nil, status: String, event: Activity? = nil, feed: Bool? = nil) {
            self.id = id
            self.rep = rep
            self.name = name
            self.status = status
            self.event = event
            self.feed = feed
        }
    }

    /// A member's attainment crossed one of the rules' milestones (the highest, when one change
    /// crossed several); each is announced once per member, board and period.
    package struct Milestone: Codable, Sendable, Equatable {
        /// `attainment:revenue:month:reps`.
        package var board: String
        package var period: String
        package var member: String
        package var attainment: Double
        package var milestone: Double

        package init(board: String, period: String, member: String, attainment: Double, milestone: Double) {
            self.board = board
            self.period = period
            self.member = member
            self.attainment = attainment
            self.milestone = milestone
        }
    }

    package var type = "changes"
    package var org: String
    package var boards: [BoardChange]
    package var deals: [Deal]
    package var activity: [Activity]?
    package var corrections: [Correction]?
    package var milestones: [Milestone]?

    package init(
        org: String, boards: [BoardChange], deals: [Deal], activity: [Activity]? = nil, corrections: [Correction]? = nil,
        milestones: [Milestone]? = nil
    ) {
        self.org = org
        self.boards = boards
        self.deals = deals
        self.activity = activity
        self.corrections = corrections
        self.milestones = milestones
    }
}
