import Foundation
import TallyDomain

/// One entry of an org's activity log (`Keys.activity`), as JSON in the stream entry's one
/// field `e`: an event as accepted or as amended (its fields and what it added), or a
/// retraction. The entry's stream id says when it was written (`received_at`).
///
/// Every accepted event is logged, so an entry leaves out what follows from the rest: `t` when
/// `accepted`, `value` when 1 (an event's default), the contribution's periods when they are
/// the calendar periods of its day (`d`, and `wk` for the week, whose label depends on the org's
/// rules), its members when they are the event's rep and team, and empty contest shares. Entries
/// written before this, with every field, read the same.
package struct LogEntry: Sendable, Equatable, Decodable {
    /// `accepted`, `amended` or `retracted`.
    package var status: String
    package var id: String
    package var rep: String?
    package var name: String?
    package var team: String?
    package var kind: String?
    package var value: Double?
    /// Milliseconds since 1970.
    package var at: Int64?
    package var contribution: Contribution?
    /// Who made a correction: `admin` or the token's id.
    package var by: String?
    /// The fields an amendment changed.
    package var changes: [String]?

    enum CodingKeys: String, CodingKey {
        case status = "t", id, rep, name, team, kind, value, at, contribution = "c", by, changes
    }

    /// A logged contribution, whole (`w`, `s`, `x`) or in the short form.
    private struct Logged: Decodable {
        var m: [String: Double]?
        var w: [String: String]?
        var d: String?
        var wk: String?
        var s: [String: String]?
        var x: [Contribution.ContestShare]?
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decodeIfPresent(String.self, forKey: .status) ?? "accepted"
        id = try container.decode(String.self, forKey: .id)
        rep = try container.decodeIfPresent(String.self, forKey: .rep)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        team = try container.decodeIfPresent(String.self, forKey: .team)
        kind = try container.decodeIfPresent(String.self, forKey: .kind)
        at = try container.decodeIfPresent(Int64.self, forKey: .at)
        // A retraction records no event; an event's value left out is its default, 1.
        value = try container.decodeIfPresent(Double.self, forKey: .value) ?? (rep == nil ? nil : 1)
        by = try container.decodeIfPresent(String.self, forKey: .by)
        changes = try container.decodeIfPresent([String].self, forKey: .changes)
        guard let logged = try container.decodeIfPresent(Logged.self, forKey: .contribution) else {
            contribution = nil
            return
        }
        let periods: [String: String]
        if let whole = logged.w {
            periods = whole
        } else if let day = logged.d, let week = logged.wk, let ofDay = Contribution.periods(day: day, week: week) {
            periods = ofDay
        } else {
            throw DecodingError.dataCorruptedError(forKey: .contribution, in: container, debugDescription: "no periods")
        }
        contribution = Contribution(
            amounts: logged.m ?? [:], periods: periods,
            members: logged.s ?? Self.members(rep: rep ?? "", team: team), contests: logged.x ?? [])
    }

    package init(
        status: String, id: String, rep: String? = nil, name: String? = nil, team: String? = nil, kind: String? = nil,
        value: Double? = nil, at: Int64? = nil, contribution: Contribution? = nil, by: String? = nil, changes: [String]? = nil
    ) {
        self.status = status
        self.id = id
        self.rep = rep
        self.name = name
        self.team = team
        self.kind = kind
        self.value = value
        self.at = at
        self.contribution = contribution
        self.by = by
        self.changes = changes
    }

    /// The members an event adds to when nothing says otherwise: its rep, and its team if it has one.
    private static func members(rep: String, team: String?) -> [String: String] {
        guard let team, !team.isEmpty else { return ["reps": rep] }
        return ["reps": rep, "teams": team]
    }

    /// The entry of an event as the scoring scripts log it. Written by hand: it is made for
    /// every event scored, where JSONEncoder would cost the worker more than the script does.
    package static func accepted(_ event: ActivityEvent, _ contribution: Contribution) -> String {
        entry(status: "accepted", event, contribution, by: nil, changes: nil)
    }

    /// The entries of a batch's events, as `accepted` makes each: the events of one day share
    /// their periods (ScoringPlan makes them once a day), so their JSON is made once too.
    package static func accepted(_ entries: [ScoringPlan.Entry]) -> [String] {
        var last: (periods: [String: String], json: String)?
        return entries.map { entry in
            let periods = entry.contribution.periods
            if last?.periods != periods { last = (periods, periodsJSON(periods)) }
            return Self.entry(status: "accepted", entry.event, entry.contribution, by: nil, changes: nil, periods: last!.json)
        }
    }

    /// `,"d":"2026-12-03","wk":"2026-W49"` when the periods are those of the day, else the
    /// whole `,"w":{...}` (rules with fewer windows).
    private static func periodsJSON(_ periods: [String: String]) -> String {
        var out = ""
        if let day = periods["today"], let week = periods["week"], Contribution.periods(day: day, week: week) == periods {
            out += ",\"d\":"
            appendString(day, to: &out)
            out += ",\"wk\":"
            appendString(week, to: &out)
            return out
        }
        out += ",\"w\":{"
        appendPairs(periods.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, quoted: true, to: &out)
        return out + "}"
    }

    /// An amendment's entry: the event as now recorded and what it now adds.
    package static func amended(_ event: ActivityEvent, _ contribution: Contribution, by: String, changes: [String]) -> String {
        entry(status: "amended", event, contribution, by: by, changes: changes)
    }

    /// A retraction's entry.
    package static func retracted(id: String, by: String) -> String {
        var out = "{\"t\":\"retracted\",\"id\":"
        appendString(id, to: &out)
        out += ",\"by\":"
        appendString(by, to: &out)
        out += "}"
        return out
    }

    private static func entry(
        status: String, _ event: ActivityEvent, _ contribution: Contribution, by: String?, changes: [String]?, periods: String? = nil
    ) -> String {
        var out = status == "accepted" ? "{\"id\":" : "{\"t\":\"\(status)\",\"id\":"
        out.reserveCapacity(160)
        appendString(event.id, to: &out)
        out += ",\"rep\":"
        appendString(event.rep, to: &out)
        if let name = event.repName, !name.isEmpty {
            out += ",\"name\":"
            appendString(name, to: &out)
        }
        if let team = event.team, !team.isEmpty {
            out += ",\"team\":"
            appendString(team, to: &out)
        }
        out += ",\"kind\":"
        appendString(event.kind, to: &out)
        if event.value != 1 { out += ",\"value\":\(number(event.value))" }
        out += ",\"at\":\(event.at),\"c\":{\"m\":{"
        appendPairs(contribution.amounts.sorted { $0.key < $1.key }.map { ($0.key, number($0.value)) }, quoted: false, to: &out)
        out += "}"
        out += periods ?? periodsJSON(contribution.periods)
        if contribution.members != members(rep: event.rep, team: event.team) {
            out += ",\"s\":{"
            appendPairs(contribution.members.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, quoted: true, to: &out)
            out += "}"
        }
        if !contribution.contests.isEmpty {
            out += ",\"x\":["
            for (position, share) in contribution.contests.enumerated() {
                if position > 0 { out += "," }
                out += "{\"c\":"
                appendString(share.contest, to: &out)
                out += ",\"s\":"
                appendString(share.member, to: &out)
                out += ",\"a\":\(number(share.amount))}"
            }
            out += "]"
        }
        out += "}"
        if let by {
            out += ",\"by\":"
            appendString(by, to: &out)
        }
        if let changes {
            out += ",\"changes\":["
            for (position, field) in changes.enumerated() {
                if position > 0 { out += "," }
                appendString(field, to: &out)
            }
            out += "]"
        }
        out += "}"
        return out
    }

    /// A finite number as JSON: whole ones without `.0` (`1000`), the rest as Swift prints them
    /// (`0.5`, `1e+20` are JSON numbers).
    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : value.description
    }

    private static func appendPairs(_ pairs: [(String, String)], quoted: Bool, to out: inout String) {
        for (position, (key, value)) in pairs.enumerated() {
            if position > 0 { out += "," }
            appendString(key, to: &out)
            out += ":"
            if quoted { appendString(value, to: &out) } else { out += value }
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func appendString(_ text: String, to out: inout String) {
        out += "\""
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            out += text
        } else {
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// Reads an entry; nil for one that is not an entry.
    package static func decode(_ json: Data) -> LogEntry? {
        try? JSONDecoder().decode(LogEntry.self, from: json)
    }

    /// The event this entry records (nil for a retraction).
    package func event(org: String) -> ActivityEvent? {
        guard let rep, let kind, let value, let at else { return nil }
        return ActivityEvent(id: id, org: org, rep: rep, repName: name, team: team, kind: kind, value: value, at: at)
    }
}

/// A log entry's stream id, `<ms>-<n>`: its milliseconds are when it was written.
package struct LogID: Sendable, Hashable, Comparable, CustomStringConvertible {
    package let milliseconds: Int64
    package let sequence: Int64

    package init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let ms = Int64(parts[0]), let seq = Int64(parts[1]), ms >= 0, seq >= 0 else { return nil }
        milliseconds = ms
        sequence = seq
    }

    package var description: String { "\(milliseconds)-\(sequence)" }

    package static func < (a: LogID, b: LogID) -> Bool {
        (a.milliseconds, a.sequence) < (b.milliseconds, b.sequence)
    }
}
