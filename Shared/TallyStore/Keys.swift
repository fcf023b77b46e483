import TallyDomain

/// Every Redis key name Tally uses, in one place. Every key of an org starts with the hash tag
/// `{<org>}`, so a Redis Cluster keeps an org in one slot and multi-key scripts stay legal.
/// Scripts never build a key: each key they touch is made here and passed in KEYS.
package struct Keys: Sendable {
    package let org: String
    /// `{acme}:`
    private let prefix: String

    package init(org: String) {
        self.org = org
        self.prefix = "{\(org)}:"
    }

    /// The sorted set of a board in one period: `{acme}:board:points:today:reps:2026-11-29`;
    /// a contest's board has no period: `{acme}:board:contest:dec-blitz`.
    package func board(_ boardID: String, period: String) -> String {
        period.isEmpty ? "\(prefix)board:\(boardID)" : "\(prefix)board:\(boardID):\(period)"
    }

    /// When each member last changed its score on a board (a sequence number), so that among
    /// equal scores the member that got there first ranks first.
    package func reached(_ boardID: String, period: String) -> String {
        period.isEmpty ? "\(prefix)reached:\(boardID)" : "\(prefix)reached:\(boardID):\(period)"
    }

    /// A board's order index: its members in rank order, equal scores first-reached first, so a
    /// page is one range read however large a tie (members as `orderMember` spells them).
    package func order(_ boardID: String, period: String) -> String {
        period.isEmpty ? "\(prefix)order:\(boardID)" : "\(prefix)order:\(boardID):\(period)"
    }

    /// A member of an order index: its reached sequence inverted and zero-padded to 15 digits,
    /// then the member, so that a reverse range lists equal scores by smallest sequence first.
    /// The scoring scripts spell it the same way (`order_member`).
    package static func orderMember(_ member: String, reached sequence: Int64) -> String {
        let inverted = String(999_999_999_999_999 - sequence)
        return String(repeating: "0", count: 15 - inverted.count) + inverted + member
    }

    /// The set of board ids that exist.
    package var boards: String { "\(prefix)boards" }
    /// Display names of reps (rep id → name).
    package var names: String { "\(prefix)names" }
    /// Each rep's latest team (rep id → team id).
    package var teams: String { "\(prefix)teams" }
    /// The org's sequence counter for first-reached order, and its version: everything that
    /// changes what a board read answers (scores, names) moves it, so a reader that kept an
    /// answer knows it still holds while the sequence has not moved (`read-board.lua`).
    package var sequence: String { "\(prefix)seq" }
    /// The idempotency record of one event id: the ids of its entries in the activity log,
    /// oldest first (the event as accepted, then each correction), or `1` for an event counted
    /// before the log existed.
    package func seen(_ eventID: String) -> String { "\(prefix)seen:\(eventID)" }
    /// The activity log: a stream of every accepted event and correction, trimmed by age.
    package var activity: String { "\(prefix)activity" }

    /// Contest id → stored `Contest` JSON.
    package var contests: String { "\(prefix)contests" }
    /// A race's finish: `winner`, `at` (ms), set by the scoring script when the goal is reached.
    package func contestFinish(_ id: String) -> String { "\(prefix)contest-finish:\(id)" }
    /// Contest id → the last state announced to displays.
    package var contestsAnnounced: String { "\(prefix)contests-announced" }
    /// Field key id → stored `FieldKey` JSON (see `FieldKeyStore` for the index of all orgs).
    package var fieldKeys: String { "\(prefix)field-keys" }
    /// Token id → the token's record (name, role, created, the value's hash; never the value).
    package var tokens: String { "\(prefix)tokens" }
    /// SHA-256 of a token's value (hex) → "<id> <role>": what each request looks up.
    package var tokenHashes: String { "\(prefix)token-hashes" }

    /// One board's quotas: a hash of member → target (the quota of every period without its
    /// own) and `<member>#<period>` → target (that period's): `{acme}:quota:revenue:month:reps`.
    /// A member's target in a period is one `HMGET` of both fields, the period's first.
    package func quota(_ board: String) -> String { "\(prefix)quota:\(board)" }
    /// The board ids that have quotas (`quota(_:)`'s), so that listing needs no scan.
    package var quotas: String { "\(prefix)quotas" }
    /// The target each member of a board's attainment board was measured against in one
    /// period (member → target), recorded when the member is first synced there, so a past
    /// period keeps its targets: `{acme}:targets:revenue:month:reps:2026-12`.
    package func targets(_ board: BoardID, period: String) -> String { "\(prefix)targets:\(board):\(period)" }
    /// The highest milestone announced for each member of an attainment board in one period.
    package func milestones(_ board: BoardID, period: String) -> String { "\(prefix)milestones:\(board):\(period)" }

    /// Orgs that have contests: one key for all orgs, the scheduler's list to walk. It has no
    /// hash tag, so it is only ever used by single-key commands.
    package static let contestOrgs = "tally:contest-orgs"
}
