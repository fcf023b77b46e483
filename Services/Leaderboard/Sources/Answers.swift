import TallyDomain
import TallyStore

/// The board ids of an org: `boards`.
package struct BoardList: Codable, Sendable, Equatable {
    package var org: String
    package var boards: [String]
}

/// A member on every board it is on: `member`.
package struct MemberStanding: Codable, Sendable, Equatable {
    package var org: String
    package var member: String
    package var boards: [MemberRank]
}

/// A rep's directory entry: `rep.put`.
package struct RepEntry: Codable, Sendable, Equatable {
    package var org: String
    package var rep: String
    package var name: String?
    package var team: String?
}

/// An org's tokens, never their values: `token.list`.
package struct TokenList: Codable, Sendable, Equatable {
    package var tokens: [OrgToken]
}

/// An org's registered field keys: `field-key.list`.
package struct FieldKeyList: Codable, Sendable, Equatable {
    package var fieldKeys: [FieldKey]

    enum CodingKeys: String, CodingKey {
        case fieldKeys = "field_keys"
    }
}

/// What a revocation answers over ZeroMQ (HTTP answers 204 with no body).
package struct Revoked: Codable, Sendable, Equatable {
    package var id: String
    package var revoked = true
}

/// `event.retract`'s answer.
struct Retracted: Encodable, Sendable {
    let id: String
    let status: String
}

/// A page of the activity log, newest first; `next` is the cursor for the page after (null at the end).
struct ActivityPage: Encodable, Sendable {
    let activity: [EventLog.View]
    let next: String?

    enum CodingKeys: CodingKey { case activity, next }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(activity, forKey: .activity)
        try c.encode(next, forKey: .next)
    }
}

/// `quota.put`'s answer: how many quotas were saved (all of them, or none and an error).
struct QuotasSaved: Encodable, Sendable {
    let saved: Int
}

/// `quota.list`'s answer.
struct QuotaList: Encodable, Sendable {
    let quotas: [Quota]
}

/// What `quota.delete` answers over ZeroMQ (HTTP answers 204 with no body).
struct QuotaDeleted: Encodable, Sendable {
    let board: String
    let member: String
    let period: String?
    var deleted = true
}
