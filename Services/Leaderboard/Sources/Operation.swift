import Foundation
import TallyDomain
import TallyStore

/// One request to tally-leaderboard, whichever transport it came by.
package enum Operation: Sendable, Equatable {
    case boards(org: String)
    case top(org: String, board: String, offset: Int, limit: Int, period: String?)
    case rank(org: String, board: String, member: String, period: String?)
    case around(org: String, board: String, member: String, n: Int, period: String?)
    case member(org: String, member: String)
    case repPut(org: String, rep: String, name: String?, team: String?)
    /// `definition` is the contest's JSON as the organizer sent it.
    case contestCreate(org: String, definition: Data)
    case contestList(org: String, state: String?)
    case contestGet(org: String, id: String)
    case contestEnd(org: String, id: String)
    case contestCancel(org: String, id: String)
    case tokenCreate(org: String, role: TokenRole, name: String)
    case tokenList(org: String)
    case tokenRevoke(org: String, id: String)
    case fieldKeyAdd(org: String, publicKey: String, name: String)
    case fieldKeyList(org: String)
    case fieldKeyRevoke(org: String, id: String)
    case eventGet(org: String, id: String)
    case eventRetract(org: String, id: String)
    case eventAmend(org: String, id: String, changes: EventLog.Changes)
    case activity(org: String, limit: Int, rep: String?, kind: String?, before: LogID?)
    /// `body` is the put's JSON, `{"quotas": [...]}`, checked against the org's rules when run.
    case quotaPut(org: String, body: Data)
    case quotaList(org: String, metric: String?, window: Window?, scope: Scope?, member: String?)
    case quotaDelete(org: String, board: BoardID, member: String, period: String?)

    /// The operation's name, as ZeroMQ clients send it and metrics label it.
    package var name: String {
        switch self {
        case .boards: "boards"
        case .top: "top"
        case .rank: "rank"
        case .around: "around"
        case .member: "member"
        case .repPut: "rep.put"
        case .contestCreate: "contest.create"
        case .contestList: "contest.list"
        case .contestGet: "contest.get"
        case .contestEnd: "contest.end"
        case .contestCancel: "contest.cancel"
        case .tokenCreate: "token.create"
        case .tokenList: "token.list"
        case .tokenRevoke: "token.revoke"
        case .fieldKeyAdd: "field-key.add"
        case .fieldKeyList: "field-key.list"
        case .fieldKeyRevoke: "field-key.revoke"
        case .eventGet: "event.get"
        case .eventRetract: "event.retract"
        case .eventAmend: "event.amend"
        case .activity: "activity"
        case .quotaPut: "quota.put"
        case .quotaList: "quota.list"
        case .quotaDelete: "quota.delete"
        }
    }

    /// The org the operation is for.
    package var org: String {
        switch self {
        case .boards(let org), .top(let org, _, _, _, _), .rank(let org, _, _, _), .around(let org, _, _, _, _),
            .member(let org, _), .repPut(let org, _, _, _), .contestCreate(let org, _), .contestList(let org, _),
            .contestGet(let org, _), .contestEnd(let org, _), .contestCancel(let org, _),
            .tokenCreate(let org, _, _), .tokenList(let org), .tokenRevoke(let org, _),
            .fieldKeyAdd(let org, _, _), .fieldKeyList(let org), .fieldKeyRevoke(let org, _),
            .eventGet(let org, _), .eventRetract(let org, _), .eventAmend(let org, _, _), .activity(let org, _, _, _, _),
            .quotaPut(let org, _), .quotaList(let org, _, _, _, _), .quotaDelete(let org, _, _, _):
            org
        }
    }

    /// The board a `top`, `rank` or `around` reads; nil for other operations.
    package var boardRead: (org: String, board: String, period: String?)? {
        switch self {
        case .top(let org, let board, _, _, let period), .rank(let org, let board, _, let period),
            .around(let org, let board, _, _, let period):
            (org, board, period)
        default: nil
        }
    }

    /// What the caller must be allowed (SPEC "Access"): field keys, listing included, are an
    /// organizer's; tokens are the admin's alone.
    package var access: AccessNeed {
        switch self {
        case .boards, .top, .rank, .around, .member, .contestList, .contestGet, .eventGet, .activity, .quotaList: .read
        case .repPut, .contestCreate, .contestEnd, .contestCancel, .fieldKeyAdd, .fieldKeyList, .fieldKeyRevoke, .eventRetract, .eventAmend,
            .quotaPut, .quotaDelete:
            .write
        case .tokenCreate, .tokenList, .tokenRevoke: .admin
        }
    }

    /// Whether the operation makes something (HTTP answers 201).
    package var creates: Bool {
        switch self {
        case .contestCreate, .tokenCreate, .fieldKeyAdd: true
        default: false
        }
    }

    /// Whether the operation removes something (HTTP answers 204, no body).
    package var removes: Bool {
        switch self {
        case .tokenRevoke, .fieldKeyRevoke, .quotaDelete: true
        default: false
        }
    }

    package static let maxLimit = 1_000
    /// The most activity items one page holds.
    package static let maxActivityLimit = 200
    /// The largest quota put accepted (10,000 quotas of long ids fit, about 2.5 MB).
    package static let maxQuotaBodyBytes = 4 << 20

    /// Reads an operation from named fields: the HTTP path and query, or a ZeroMQ JSON body.
    package static func parse(op: String, _ fields: [String: String]) throws(OperationError) -> Operation {
        let org = fields["org"] ?? Org.default
        switch op {
        case "boards":
            return .boards(org: org)
        case "top":
            return .top(
                org: org, board: try required("board", fields),
                offset: try number("offset", fields, default: 0, range: 0...Int.max, rule: "a whole number of at least 0"),
                limit: try number("limit", fields, default: 10, range: 1...maxLimit, rule: "a whole number from 1 to \(maxLimit)"),
                period: fields["period"])
        case "rank":
            return .rank(org: org, board: try required("board", fields), member: try required("member", fields), period: fields["period"])
        case "around":
            return .around(
                org: org, board: try required("board", fields), member: try required("member", fields),
                n: try number("n", fields, default: 5, range: 0...100, rule: "a whole number from 0 to 100"),
                period: fields["period"])
        case "member":
            return .member(org: org, member: try required("member", fields))
        case "rep.put":
            let rep = try required("rep", fields)
            guard isMemberID(rep) else { throw OperationError(.badRequest, "rep: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -") }
            if let name = fields["name"], name.count > 100 || name.isEmpty {
                throw OperationError(.badRequest, "name: must be 1 to 100 characters")
            }
            if let team = fields["team"], !isMemberID(team) {
                throw OperationError(.badRequest, "team: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -")
            }
            return .repPut(org: org, rep: rep, name: fields["name"], team: fields["team"])
        case "contest.list":
            if let state = fields["state"], Contest.State(rawValue: state) == nil {
                throw OperationError(.badRequest, "state: must be scheduled, running, ended, final or cancelled")
            }
            return .contestList(org: org, state: fields["state"])
        case "contest.get":
            return .contestGet(org: org, id: try required("id", fields))
        case "contest.end":
            return .contestEnd(org: org, id: try required("id", fields))
        case "contest.cancel":
            return .contestCancel(org: org, id: try required("id", fields))
        case "token.create":
            guard let role = TokenRole(rawValue: try required("role", fields)) else {
                throw OperationError(.badRequest, "role: must be viewer or organizer")
            }
            return .tokenCreate(org: org, role: role, name: try name(fields))
        case "token.list":
            return .tokenList(org: org)
        case "token.revoke":
            return .tokenRevoke(org: org, id: try required("id", fields))
        case "field-key.add":
            return .fieldKeyAdd(org: org, publicKey: try required("public_key", fields), name: try name(fields))
        case "field-key.list":
            return .fieldKeyList(org: org)
        case "field-key.revoke":
            return .fieldKeyRevoke(org: org, id: try required("id", fields))
        case "event.get":
            return .eventGet(org: org, id: try eventID(fields))
        case "event.retract":
            return .eventRetract(org: org, id: try eventID(fields))
        case "event.amend":
            var changes = EventLog.Changes()
            if let text = fields["value"] {
                guard let value = Double(text), value.isFinite, (0...1e12).contains(value) else {
                    throw OperationError(.badRequest, "value: must be a number from 0 to 1e12")
                }
                changes.value = value
            }
            if let kind = fields["kind"] {
                guard isMemberID(kind) else { throw OperationError(.badRequest, "kind: must be one of the org's activity kinds") }
                changes.kind = kind
            }
            if let rep = fields["rep"] {
                guard isMemberID(rep) else { throw OperationError(.badRequest, "rep: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -") }
                changes.rep = rep
            }
            if let team = fields["team"] {
                guard team.isEmpty || isMemberID(team) else {
                    throw OperationError(.badRequest, "team: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ - (or \"\" for none)")
                }
                changes.team = team
            }
            guard changes != EventLog.Changes() else {
                throw OperationError(.badRequest, "changes: name at least one of value, kind, rep, team")
            }
            return .eventAmend(org: org, id: try eventID(fields), changes: changes)
        case "activity":
            let limit = try number(
                "limit", fields, default: 50, range: 1...maxActivityLimit, rule: "a whole number from 1 to \(maxActivityLimit)")
            if let rep = fields["rep"], !isMemberID(rep) {
                throw OperationError(.badRequest, "rep: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -")
            }
            if let kind = fields["kind"], !isMemberID(kind) {
                throw OperationError(.badRequest, "kind: must be an activity kind")
            }
            var before: LogID?
            if let text = fields["before"], !text.isEmpty {
                guard let cursor = LogID(text) else { throw OperationError(.badRequest, "before: must be a cursor from a previous page's next") }
                before = cursor
            }
            return .activity(
                org: org, limit: limit, rep: fields["rep"].flatMap { $0.isEmpty ? nil : $0 },
                kind: fields["kind"].flatMap { $0.isEmpty ? nil : $0 }, before: before)
        case "quota.list":
            // Every filter optional; an empty one is no filter (`?metric=&window=`).
            var window: Window?, scope: Scope?, member: String?
            if let text = fields["window"], !text.isEmpty { window = try quotaWindow(text) }
            if let text = fields["scope"], !text.isEmpty { scope = try quotaScope(text) }
            if let text = fields["member"], !text.isEmpty { member = try quotaMember(text) }
            let metric = fields["metric"].flatMap { $0.isEmpty ? nil : $0 }
            return .quotaList(org: org, metric: metric, window: window, scope: scope, member: member)
        case "quota.delete":
            let metric = try required("metric", fields)
            let window = try quotaWindow(try required("window", fields))
            let scope = try quotaScope(try required("scope", fields))
            let member = try quotaMember(try required("member", fields))
            var period: String?
            if let text = fields["period"], !text.isEmpty {
                guard window.validPeriod(text) != nil else {
                    throw OperationError(.badRequest, "period: must be a \(window.rawValue) period such as \(window.periodExample), got \(text.quoted)")
                }
                period = text
            }
            return .quotaDelete(org: org, board: BoardID(metric: metric, window: window, scope: scope), member: member, period: period)
        default:
            throw OperationError(.badRequest, "op: unknown operation \(op.quoted)")
        }
    }

    /// A quota's window: a calendar one.
    private static func quotaWindow(_ text: String) throws(OperationError) -> Window {
        guard let window = Window(rawValue: text), Quota.windows.contains(window) else {
            throw OperationError(.badRequest, "window: must be one of \(Quota.windows.map(\.rawValue).joined(separator: ", "))")
        }
        return window
    }

    private static func quotaScope(_ text: String) throws(OperationError) -> Scope {
        guard let scope = Scope(rawValue: text) else { throw OperationError(.badRequest, "scope: must be reps or teams") }
        return scope
    }

    /// A quota's member: a rep or team id.
    private static func quotaMember(_ text: String) throws(OperationError) -> String {
        guard isMemberID(text) else { throw OperationError(.badRequest, "member: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -") }
        return text
    }

    /// A token's or field key's name: 1 to 100 characters.
    private static func name(_ fields: [String: String]) throws(OperationError) -> String {
        let name = try required("name", fields)
        guard name.unicodeScalars.count <= 100 else { throw OperationError(.badRequest, "name: must be 1 to 100 characters") }
        return name
    }

    /// An event id: 1 to 128 characters.
    private static func eventID(_ fields: [String: String]) throws(OperationError) -> String {
        let id = try required("id", fields)
        guard id.unicodeScalars.count <= 128 else { throw OperationError(.badRequest, "id: must be 1 to 128 characters") }
        return id
    }

    private static func required(_ field: String, _ fields: [String: String]) throws(OperationError) -> String {
        guard let value = fields[field], !value.isEmpty else { throw OperationError(.badRequest, "\(field): is required") }
        return value
    }

    private static func number(
        _ field: String, _ fields: [String: String], default fallback: Int, range: ClosedRange<Int>, rule: String
    ) throws(OperationError) -> Int {
        guard let text = fields[field] else { return fallback }
        guard let value = Int(text), range.contains(value) else { throw OperationError(.badRequest, "\(field): must be \(rule)") }
        return value
    }
}

/// An amendment's changes as both transports receive them (a JSON object), checked for the
/// fields' JSON types and made into named fields for `Operation.parse`.
enum EventChanges {
    static let names = ["value", "kind", "rep", "team"]

    static func fields(_ object: [String: Any]) throws(OperationError) -> [String: String] {
        if let unknown = object.keys.sorted().first(where: { !names.contains($0) }) {
            throw OperationError(.badRequest, "\(String(unknown.prefix(64))): unknown field (an amendment changes value, kind, rep or team)")
        }
        var fields: [String: String] = [:]
        if let raw = object["value"] {
            guard let number = raw as? NSNumber else {
                throw OperationError(.badRequest, "value: must be a number from 0 to 1e12")
            }
            fields["value"] = number.stringValue
        }
        for name in ["kind", "rep", "team"] {
            guard let raw = object[name] else { continue }
            guard let text = raw as? String else { throw OperationError(.badRequest, "\(name): must be a string") }
            fields[name] = text
        }
        return fields
    }
}
