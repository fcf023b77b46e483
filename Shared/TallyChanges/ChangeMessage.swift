import Foundation

/// What travels on the changes socket (scoring and the leaderboard publish, tally-notification
/// binds a SUB): two frames, the org, then one of these as JSON.
package enum ChangeMessage: Sendable, Equatable {
    /// Boards that moved and deals won, from a scoring worker after a commit.
    case changes(ChangeNotice)
    /// A contest's change of state, from the leaderboard's scheduler.
    case contest(ContestAnnouncement)

    /// The message in a JSON frame; nil for anything else. Change notices are nearly every
    /// message and can be large, so they are tried first.
    package init?(json: Data) {
        let decoder = JSONDecoder()
        if let notice = try? decoder.decode(ChangeNotice.self, from: json), notice.type == "changes" {
            self = .changes(notice)
        } else if let contest = try? decoder.decode(ContestAnnouncement.self, from: json), contest.type == "contest" {
            self = .contest(contest)
        } else {
            return nil
        }
    }

    package var org: String {
        switch self {
        case .changes(let notice): notice.org
        case .contest(let announcement): announcement.org
        }
    }

    /// The two frames to publish: the org, then the JSON.
    package func frames(encoder: JSONEncoder = JSONEncoder()) throws -> [Data] {
        let json = switch self {
        case .changes(let notice): try encoder.encode(notice)
        case .contest(let announcement): try encoder.encode(announcement)
        }
        return [Data(org.utf8), json]
    }
}
