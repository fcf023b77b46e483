/// One activity a field rep reported, validated and normalized.
package struct ActivityEvent: Sendable, Equatable, Codable {
    /// The idempotency key, unique per org.
    package var id: String
    package var org: String
    package var rep: String
    package var repName: String?
    package var team: String?
    package var kind: String
    package var value: Double
    /// When it happened, in milliseconds since 1970 UTC.
    package var at: Int64

    package init(
        id: String, org: String = Org.default, rep: String, repName: String? = nil, team: String? = nil,
        kind: String, value: Double = 1, at: Int64
    ) {
        self.id = id
        self.org = org
        self.rep = rep
        self.repName = repName
        self.team = team
        self.kind = kind
        self.value = value
        self.at = at
    }

    enum CodingKeys: String, CodingKey {
        case id, org, rep, repName = "rep_name", team, kind, value, at
    }
}

/// Organization ids: `[a-z0-9-]{1,64}`.
package enum Org {
    package static let `default` = "default"

    package static func isValid(_ org: String) -> Bool {
        (1...64).contains(org.utf8.count)
            && org.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
    }
}
