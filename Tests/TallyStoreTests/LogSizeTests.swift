import Foundation
import Redis
import TallyDomain
import TallyStore
import TallyTesting
import Testing

/// What the activity log costs per event, against a real redis-server: a floor's day written
/// through the scoring scripts, measured as Redis keeps it (`MEMORY USAGE` of the stream) and
/// as JSON, beside the same entries in the format before. And events as they come back from
/// the log (`event.get`, `activity`): exactly as sent, in an org whose days, weeks and years
/// end elsewhere than UTC's.
@Suite struct LogSizeTests {
    let fixture: StoreFixture
    var connection: RedisConnection { fixture.connection }

    init() throws {
        fixture = try StoreFixture()
    }

    /// A floor as `tally simulate` sends it: 500 named reps in 10 teams, the day's mix of
    /// activities, deals of 800 to 60,000 in steps of 50, ids `<run>-<n>`; one event a
    /// second from 08:00 UTC. A fixed seed: the same events every run.
    static func floorDay(_ count: Int, org: String) -> [ActivityEvent] {
        let firstNames = ["Ana", "Ben", "Chloé", "Dev", "Elif", "Finn", "Grace", "Hiro", "Ines", "Jon", "Kemal", "Lena",
                          "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Vik", "Wen", "Yara", "Zoe"]
        let lastNames = ["Abbott", "Brandt", "Costa", "Diallo", "Eriksen", "Fujita", "García", "Haddad", "Ivanova", "Jensen",
                         "Kowalski", "López", "Moreau", "Nakamura", "O'Brien", "Patel", "Rossi", "Schmidt", "Tanaka", "Weber"]
        let teams = ["north", "south", "east", "west", "central", "harbor", "summit", "valley", "metro", "coast"]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random() -> Double {  // SplitMix64, in 0..<1
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        let start = ScriptCallTests.at - 2 * 3_600_000
        return (0..<count).map { sequence in
            let index = Int(500 * pow(random(), 2))
            let kind = ActivityMix.kind(at: random() * 100)
            let value = kind == "deal_won" ? (exp(log(800) + random() * (log(60_000) - log(800))) / 50).rounded() * 50 : 1
            let name = "\(firstNames[index % firstNames.count]) \(lastNames[(index * 7 + index / firstNames.count) % lastNames.count])"
            return ActivityEvent(
                id: "3f9a01c2-\(sequence)", org: org, rep: "rep-\(index + 1)", repName: name, team: teams[index % teams.count],
                kind: kind, value: value, at: start + Int64(sequence) * 1_000)
        }
    }

    /// An entry as it was written before entries left their defaults out.
    static func entryBefore(_ event: ActivityEvent, _ contribution: Contribution) -> String {
        func number(_ value: Double) -> String { value.description }
        func object(_ pairs: [String: String], quoted: Bool) -> String {
            "{" + pairs.sorted { $0.key < $1.key }.map { "\"\($0.key)\":" + (quoted ? "\"\($0.value)\"" : $0.value) }.joined(separator: ",") + "}"
        }
        var out = #"{"t":"accepted","id":"\#(event.id)","rep":"\#(event.rep)""#
        if let name = event.repName { out += #","name":"\#(name)""# }
        if let team = event.team { out += #","team":"\#(team)""# }
        out += #","kind":"\#(event.kind)","value":\#(number(event.value)),"at":\#(event.at),"c":{"m":"#
        out += object(contribution.amounts.mapValues(number), quoted: false) + #","w":"# + object(contribution.periods, quoted: true)
        out += #","s":"# + object(contribution.members, quoted: true) + #","x":["#
        out += contribution.contests.map { #"{"c":"\#($0.contest)","s":"\#($0.member)","a":\#(number($0.amount))}"# }.joined(separator: ",")
        return out + "]}}"
    }

    /// Each entry of a stream, with its id.
    func entries(_ key: String) throws -> [(id: String, json: Data)] {
        try (connection.send("XRANGE", key, "-", "+").array ?? []).map { item in
            let pair = try #require(item.array)
            guard case .bulk(let json) = try #require(pair[1].array)[1] else { throw RedisError(.server, "not a log entry: \(item)") }
            return (try #require(pair[0].string), json)
        }
    }

    @Test func aFloorsDayCostsUnder220BytesAnEventInRedis() throws {
        let rules = Rules.default
        let events = Self.floorDay(6_000, org: "acme")
        var contributions: [String: Contribution] = [:]
        for first in stride(from: 0, to: events.count, by: 100) {
            let batch = Array(events[first..<min(first + 100, events.count)])
            let now = batch.last!.at + 500
            let plan = ScoringPlan(org: "acme", events: batch, rules: rules, now: now)
            for entry in plan.entries { contributions[entry.event.id] = entry.contribution }
            _ = try BoardWriter.apply(plan, rules: rules, now: now, on: connection)
        }
        let written = try entries("{acme}:activity")
        #expect(written.count == events.count)

        // The same entries in the format before, under the same ids, for the comparison.
        var before: [[any RedisArgument]] = []
        for ((id, _), event) in zip(written, events) {
            before.append(["XADD", "{acme}:activity-before", id, "e", Self.entryBefore(event, contributions[event.id]!)])
        }
        _ = try connection.pipeline(before)

        let count = Double(events.count)
        let memory = Double(try #require(try connection.send("MEMORY", "USAGE", "{acme}:activity", "SAMPLES", "0").int)) / count
        let memoryBefore = Double(try #require(try connection.send("MEMORY", "USAGE", "{acme}:activity-before", "SAMPLES", "0").int)) / count
        let json = Double(written.map(\.json.count).reduce(0, +)) / count
        let oldEntries = try entries("{acme}:activity-before")
        let jsonBefore = Double(oldEntries.map(\.json.count).reduce(0, +)) / count
        print("log size: \(Int(memory)) B per event in Redis (before: \(Int(memoryBefore)) B), JSON \(Int(json)) B (before: \(Int(jsonBefore)) B)")
        #expect(memory < 220)
        #expect(json < 180)
        #expect(memory < memoryBefore * 0.6)

        // Both formats read back as what was written.
        for ((_, new), (_, old)) in zip(written, oldEntries) {
            let entry = try #require(LogEntry.decode(new))
            let entryBefore = try #require(LogEntry.decode(old))
            let event = try #require(entry.event(org: "acme"))
            #expect(entryBefore.event(org: "acme") == event)
            #expect(entry.contribution == contributions[event.id])
            #expect(entryBefore.contribution == contributions[event.id])
        }
        #expect(try entries("{acme}:activity").compactMap { LogEntry.decode($0.json)?.event(org: "acme") } == events)
    }

    /// Auckland (UTC+13 in its summer), weeks from Sunday: where the day, the week and the year
    /// turn is not where UTC's do.
    static var aucklandRules: Rules {
        var rules = Rules.default
        rules.timeZone = TimeZone(identifier: "Pacific/Auckland")!
        rules.weekStart = .sunday
        return rules
    }

    /// Events either side of Auckland's new year and of its week's turn (Saturday to Sunday
    /// night), with and without a value, a name, a team.
    static let turns = [
        // Thursday 2026-12-31 23:30 local.
        ActivityEvent(id: "y1", org: "akl", rep: "ana", repName: "Ana López", team: "north", kind: "deal_won", value: 1250.5, at: Timestamp.parse("2026-12-31T10:30:00Z")!),
        // Friday 2027-01-01 00:30 local.
        ActivityEvent(id: "y2", org: "akl", rep: "ana", kind: "door_knock", at: Timestamp.parse("2026-12-31T11:30:00Z")!),
        // Saturday 2027-01-09 23:30 local.
        ActivityEvent(id: "w1", org: "akl", rep: "bo", team: "south", kind: "demo", at: Timestamp.parse("2027-01-09T10:30:00Z")!),
        // Sunday 2027-01-10 00:30 local.
        ActivityEvent(id: "w2", org: "akl", rep: "bo", repName: "Bo", team: "south", kind: "deal_won", value: 800, at: Timestamp.parse("2027-01-09T11:30:00Z")!),
    ]

    /// Each event's periods in Auckland, worked out by hand: a Sunday week belongs to the year
    /// of its Wednesday and counts from that year's first.
    static let turnPeriods: [String: [String: String]] = [
        // The week of Sunday 2026-12-27, whose Wednesday the 30th is the 364th day: week 52 (Monday weeks: 53).
        "y1": ["today": "2026-12-31", "week": "2026-W52", "month": "2026-12", "quarter": "2026-Q4", "year": "2026", "all": "all"],
        "y2": ["today": "2027-01-01", "week": "2026-W52", "month": "2027-01", "quarter": "2027-Q1", "year": "2027", "all": "all"],
        // The week of Sunday 2027-01-03, Wednesday the 6th: week 1.
        "w1": ["today": "2027-01-09", "week": "2027-W01", "month": "2027-01", "quarter": "2027-Q1", "year": "2027", "all": "all"],
        // The week of Sunday the 10th, Wednesday the 13th: week 2 (Monday weeks: still week 1).
        "w2": ["today": "2027-01-10", "week": "2027-W02", "month": "2027-01", "quarter": "2027-Q1", "year": "2027", "all": "all"],
    ]

    @Test func eventsComeBackFromTheLogExactlyAcrossWeeksAndYearsOfAnotherZone() async throws {
        let rules = Self.aucklandRules
        let now = Timestamp.parse("2027-01-09T12:00:00Z")!
        let plan = ScoringPlan(org: "akl", events: Self.turns, rules: rules, now: now)
        for entry in plan.entries { #expect(entry.contribution.periods == Self.turnPeriods[entry.event.id]) }
        _ = try BoardWriter.apply(plan, rules: rules, now: now, on: connection)

        let log = EventLog(redis: fixture.client)
        for (event, entry) in zip(Self.turns, plan.entries) {
            let record = try #require(try await log.record(org: "akl", id: event.id))
            #expect(record.event == event)
            #expect(record.status == "accepted")
            #expect(record.contribution == entry.contribution)
            #expect(record.contribution?.periods == Self.turnPeriods[event.id])
        }
        let listed = try await log.activity(org: "akl", before: nil, limit: 50, rep: nil, kind: nil).records
        #expect(listed.map(\.event) == Self.turns.reversed())
        #expect(listed.map(\.contribution) == plan.entries.reversed().map(\.contribution))
        // The entries keep the local day and the week's label; a value of 1 is left out.
        let json = try entries("{akl}:activity").map { String(decoding: $0.json, as: UTF8.self) }
        #expect(zip(json, Self.turns).allSatisfy { entry, event in
            let periods = Self.turnPeriods[event.id]!
            return entry.contains(#""d":"\#(periods["today"]!)","wk":"\#(periods["week"]!)""#)
        }, "\(json)")
        #expect(json.map { $0.contains(#""value""#) } == [true, false, false, true])

        // Retracted under rules since changed to UTC and Monday weeks, each takes back exactly
        // what it added, from the periods of its entry.
        for event in Self.turns {
            _ = try await log.retract(org: "akl", id: event.id, by: "admin", rules: .default, now: now + 1_000)
        }
        for (event, periods) in Self.turnPeriods.sorted(by: { $0.key < $1.key }) {
            for (window, period) in periods {
                let rep = Self.turns.first { $0.id == event }!.rep
                #expect(try connection.send("ZSCORE", "{akl}:board:points:\(window):reps:\(period)", rep).double == nil, "\(event) \(window)")
            }
        }
        #expect(try connection.send("ZCARD", "{akl}:board:points:all:teams:all").int == 0)
        #expect(try await log.record(org: "akl", id: "w2")?.status == "retracted")
    }
}
