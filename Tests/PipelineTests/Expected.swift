import Foundation
import Redis
import TallyTesting

/// The default rules of the SPEC, written out again here so the tests check the service
/// against an independent reckoning.
enum Expected {
    static let points: [String: Double] = [
        "door_knock": 1, "call": 1, "email": 1, "appointment": 5, "demo": 10, "proposal": 15, "deal_won": 50,
    ]
    static let metrics = ["points", "revenue", "deals", "doors", "appointments"]
    static let calendarWindows = ["today", "week", "month", "quarter", "year", "all"]

    /// What one event adds to each metric it counts for.
    static func amounts(kind: String, value: Double) -> [String: Double] {
        var amounts = ["points": points[kind]!]
        if kind == "deal_won" {
            amounts["revenue"] = value
            amounts["deals"] = 1
        }
        if kind == "door_knock" { amounts["doors"] = 1 }
        if kind == "appointment" { amounts["appointments"] = 1 }
        return amounts
    }

    /// The period labels of an instant, by Foundation's ISO 8601 calendar.
    static func periods(_ date: Date) -> [String: String] { calendarPeriods(date) }

    struct Event {
        var id: String
        var rep: String
        var team: String?
        var kind: String
        var value: Double = 1
    }

    /// Every board key's expected members and scores, for events all in the same periods.
    static func boards(_ events: [Event], org: String = "default", at date: Date) -> [String: [String: Double]] {
        let periods = periods(date)
        var boards: [String: [String: Double]] = [:]
        for event in events {
            for (metric, amount) in amounts(kind: event.kind, value: event.value) {
                for window in calendarWindows {
                    for (scope, member) in [("reps", event.rep), ("teams", event.team)] {
                        guard let member else { continue }
                        boards["{\(org)}:board:\(metric):\(window):\(scope):\(periods[window]!)", default: [:]][member, default: 0] += amount
                    }
                }
            }
        }
        return boards
    }
}

extension RedisConnection {
    /// A sorted set's members and scores.
    func board(_ key: String) throws -> [String: Double] {
        let items = try send("ZRANGE", key, 0, -1, "WITHSCORES").array ?? []
        var scores: [String: Double] = [:]
        for pair in stride(from: 0, to: items.count, by: 2) {
            scores[items[pair].string!] = items[pair + 1].double!
        }
        return scores
    }

    /// Every board key of an org with its contents.
    func allBoards(org: String = "default") throws -> [String: [String: Double]] {
        let keys = (try send("KEYS", "{\(org)}:board:*").array ?? []).compactMap(\.string)
        var boards: [String: [String: Double]] = [:]
        for key in keys { boards[key] = try board(key) }
        return boards
    }
}

