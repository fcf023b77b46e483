import Foundation
import Synchronization
import TallyDomain
import ZeroMQ

/// A simulated sales floor: reps with names and teams doing a plausible mix of activities at a
/// steady rate, some reps busier than others, sent to ingestion over one DEALER socket with
/// many requests in flight. Used by `tally simulate` and `tally up --demo`.
final class Simulator: Sendable {
    struct Rep: Sendable {
        let id: String
        let name: String
        let team: String
        /// How busy this rep is relative to the others.
        let weight: Double
    }

    struct Progress: Sendable {
        var sent = 0
        var accepted = 0
        var rejected = 0
        var unanswered = 0
        var latencies: [Double] = []  // ms, of the last interval
    }

    let reps: [Rep]
    let org: String
    private let stopped = Atomic<Bool>(false)
    let progress = Mutex(Progress())

    static let firstNames = ["Ana", "Ben", "Chloé", "Dev", "Elif", "Finn", "Grace", "Hiro", "Ines", "Jon", "Kemal", "Lena",
                             "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Vik", "Wen", "Yara", "Zoe"]
    static let lastNames = ["Abbott", "Brandt", "Costa", "Diallo", "Eriksen", "Fujita", "García", "Haddad", "Ivanova", "Jensen",
                            "Kowalski", "López", "Moreau", "Nakamura", "O'Brien", "Patel", "Rossi", "Schmidt", "Tanaka", "Weber"]
    static let teamNames = ["north", "south", "east", "west", "central", "harbor", "summit", "valley", "metro", "coast"]

    init(reps count: Int, teams: Int, org: String) {
        var generator = SystemRandomNumberGenerator()
        reps = (0..<count).map { index in
            let first = Self.firstNames[index % Self.firstNames.count]
            let last = Self.lastNames[(index * 7 + index / Self.firstNames.count) % Self.lastNames.count]
            return Rep(
                id: "rep-\(index + 1)", name: "\(first) \(last)", team: Self.teamNames[index % max(1, min(teams, Self.teamNames.count))],
                // A long tail: a few reps do much more than most.
                weight: 1 / Double(index % 13 + 1) + Double.random(in: 0.2...0.6, using: &generator))
        }
        self.org = org
    }

    func stop() { stopped.store(true, ordering: .relaxed) }
    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// One random event of a random rep, as JSON.
    func event(sequence: Int, runID: String) -> [String: Any] {
        let totalWeight = reps.reduce(0) { $0 + $1.weight }
        var pick = Double.random(in: 0..<totalWeight)
        let rep = reps.first { pick -= $0.weight; return pick < 0 } ?? reps[0]
        let kind = ActivityMix.kind(at: Double.random(in: 0..<100))
        var event: [String: Any] = [
            "id": "\(runID)-\(sequence)", "org": org, "rep": rep.id, "rep_name": rep.name, "team": rep.team, "kind": kind,
        ]
        if kind == "deal_won" { event["value"] = (exp(Double.random(in: log(800)...log(60_000))) / 50).rounded() * 50 }
        return event
    }

    /// Sends `rate` events a second (grouped every 100 ms) until `duration` (nil: until stopped).
    func run(ingestion endpoint: String, options: [SocketOption] = [], rate: Double, duration: Double?) throws {
        let socket = try Socket(.dealer, options: [.linger(milliseconds: 0), .receiveTimeout(milliseconds: 0)] + options)
        try socket.connect(endpoint)
        let runID = String(UUID().uuidString.prefix(8)).lowercased()
        let start = Date()
        var sequence = 0
        var inFlight: [String: Date] = [:]  // first event id of a request → when it was sent
        var poller = Poller()
        poller.add(socket)
        var nextTick = start
        while !isStopped {
            if let duration, Date().timeIntervalSince(start) >= duration { break }
            let now = Date()
            if now >= nextTick {
                // Events due so far minus those sent: keeps the rate right over time.
                let due = Int(now.timeIntervalSince(start) * rate) - sequence
                if due > 0 {
                    let events = (0..<min(due, 1_000)).map { offset in event(sequence: sequence + offset, runID: runID) }
                    sequence += events.count
                    try socket.send([Data(), try JSONSerialization.data(withJSONObject: ["events": events])])
                    inFlight[events[0]["id"] as! String] = now
                    progress.withLock { $0.sent += events.count }
                }
                nextTick = now.addingTimeInterval(0.1)
            }
            let wait = max(1, Int(nextTick.timeIntervalSinceNow * 1000))
            if try poller.poll(timeout: wait)[0].contains(.readable) { try receive() }
        }
        // Collect the answers still on their way (for at most three seconds).
        let deadline = Date().addingTimeInterval(3)
        while !inFlight.isEmpty && Date() < deadline {
            if try poller.poll(timeout: 100)[0].contains(.readable) { try receive() }
        }

        func receive() throws {
            while let frames = try socket.receive(dontWait: true) {
                guard let reply = try? JSONSerialization.jsonObject(with: frames.last!) as? [String: Any] else { continue }
                let results = reply["results"] as? [[String: Any]] ?? []
                let sentAt = (results.first?["id"] as? String).flatMap { inFlight.removeValue(forKey: $0) }
                progress.withLock { progress in
                    progress.accepted += results.filter { $0["status"] as? String == "accepted" }.count
                    progress.rejected += results.filter { $0["status"] as? String == "rejected" }.count
                    if results.isEmpty { progress.unanswered += 1 }
                    if let sentAt { progress.latencies.append(Date().timeIntervalSince(sentAt) * 1000) }
                }
            }
        }
    }
}
