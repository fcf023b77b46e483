import Foundation
import Redis
import TallyDomain
import TallyStore

/// What a hand-written pipeline would do per event: one script call that records the event
/// id and applies the same board increments (with the first-reached sequence and the order
/// index) as Tally.
enum Ceiling {
    /// ceiling.lua, beside this file.
    static let script = RedisScript(String(decoding: PackageResources.ceiling_lua, as: UTF8.self))

    /// Events a second.
    /// Events a second; `orderIndex: false` leaves out the order indexes (what the boards cost
    /// before them), in an org of its own.
    static func run(redisURL: String, events: [ActivityEvent], orderIndex: Bool = true) throws -> Double {
        let org = orderIndex ? "ceiling" : "ceiling-plain"
        let plan = ScoringPlan(org: org, events: events, rules: .default)
        let keys = Keys(org: org)
        let calls = plan.entries.map { entry -> (keys: [String], arguments: [String]) in
            let boards = entry.increments.map { plan.boards[$0.board] }
            let boardKeys = boards.map { keys.board($0.name, period: $0.period) }
            let reachedKeys = boards.map { keys.reached($0.name, period: $0.period) }
            let orderKeys = boards.map { keys.order($0.name, period: $0.period) }
            var arguments = ["864000", orderIndex ? "1" : "0"]
            for increment in entry.increments { arguments += [String(increment.amount), increment.member] }
            return ([keys.seen(entry.event.id), keys.sequence] + boardKeys + reachedKeys + orderKeys, arguments)
        }
        let redis = try RedisConnection(url: redisURL)
        _ = try redis.pipeline(script, calls: Array(calls.prefix(1)))  // loads the script
        let start = Date()
        for chunk in stride(from: 1, to: calls.count, by: 256) {
            _ = try redis.pipeline(script, calls: Array(calls[chunk..<min(chunk + 256, calls.count)]))
        }
        return Double(calls.count - 1) / Date().timeIntervalSince(start)
    }
}
