import Foundation
import Synchronization
import TallyDomain
import ZeroMQ

/// A benchmark's sales floor: `reps` reps in `teams` teams, a few doing much more than most,
/// and the day's mix of activities.
struct BenchFloor {
    let reps: Int
    let teams: Int

    func events(_ count: Int, org: String, prefix: String, at: Int64) -> [ActivityEvent] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { sequence in
            // Skewed: u³ puts most activity on the first reps (the top 10% of reps do ~45% of it).
            let rep = Int(Double(reps) * pow(Double.random(in: 0..<1, using: &generator), 3))
            let kind = ActivityMix.kind(at: Double.random(in: 0..<100, using: &generator))
            let value = kind == "deal_won" ? (Double.random(in: 500...50_000, using: &generator) / 50).rounded() * 50 : 0
            return ActivityEvent(
                id: "\(prefix)-\(sequence)", org: org, rep: "rep-\(rep)", repName: nil, team: "team-\(rep % teams)",
                kind: kind, value: value, at: at)
        }
    }
}

extension ActivityEvent {
    /// A field app's one-event request (no `at`: the service stamps the arrival time).
    var request: Data {
        var json = #"{"id":"\#(id)","org":"\#(org)","rep":"\#(rep)","team":"\#(team ?? "")","kind":"\#(kind)""#
        if kind == "deal_won" { json += #","value":\#(value)"# }
        return Data((json + "}").utf8)
    }

    /// A line of the peer's input file.
    var peerLine: String {
        #"{"id":"\#(id)","rep":"\#(rep)","team":"\#(team ?? "")","kind":"\#(kind)","value":\#(value),"at_ms":\#(at)}"#
    }
}

/// Outcome of sending requests.
struct LoadResult {
    var seconds = 0.0
    var accepted = 0
    var other = 0
    var latencies = Latencies()
}

/// Field apps as fast as they can go: `clients` DEALER sockets, each keeping `inFlight`
/// one-event requests outstanding, until every request has its reply.
func saturate(_ endpoint: String, requests: [Data], clients: Int, inFlight: Int, options: [SocketOption] = []) throws -> LoadResult {
    let start = Date()
    let results = onThreads(clients) { index -> Result<LoadResult, any Error> in
        Result {
            let mine = stride(from: index, to: requests.count, by: clients).map { requests[$0] }
            return try drive(endpoint, mine, inFlight: inFlight, rate: nil, options: options)
        }
    }
    var total = LoadResult()
    for result in results {
        let one = try result.get()
        total.accepted += one.accepted
        total.other += one.other
        total.latencies.add(contentsOf: one.latencies)
    }
    total.seconds = Date().timeIntervalSince(start)
    return total
}

/// One DEALER client: with `rate`, sends open-loop at that many requests a second (each timed
/// from when it was due); without, keeps `inFlight` outstanding.
func drive(_ endpoint: String, _ requests: [Data], inFlight: Int, rate: Double?, options: [SocketOption] = []) throws -> LoadResult {
    let socket = try Socket(.dealer, options: [.linger(milliseconds: 0), .receiveHighWaterMark(0), .sendHighWaterMark(0)] + options)
    try socket.connect(endpoint)
    var poller = Poller()
    poller.add(socket)
    var result = LoadResult()
    var sentAt: [Substring: UInt64] = [:]
    var next = 0
    var outstanding = 0
    let start = DispatchTime.now().uptimeNanoseconds
    let idKey = Array(#""id":""#.utf8)
    while next < requests.count || outstanding > 0 {
        let now = DispatchTime.now().uptimeNanoseconds
        if let rate {
            let due = min(requests.count, Int(Double(now - start) / 1e9 * rate) + 1)
            while next < due {
                let dueAt = start + UInt64(Double(next) / rate * 1e9)
                try send(requests[next], at: dueAt)
            }
        } else {
            while next < requests.count && outstanding < inFlight { try send(requests[next], at: now) }
        }
        let timeout = rate == nil ? 1000 : 1
        guard try poller.poll(timeout: timeout)[0].contains(.readable) else { continue }
        while let frames = try socket.receive(dontWait: true) {
            let reply = [UInt8](frames.last!)
            outstanding -= 1
            if reply.firstRange(of: Array(#""status":"accepted""#.utf8)) != nil { result.accepted += 1 } else { result.other += 1 }
            if let range = reply.firstRange(of: idKey), let end = reply[range.upperBound...].firstIndex(of: UInt8(ascii: "\"")) {
                let id = Substring(String(decoding: reply[range.upperBound..<end], as: UTF8.self))
                if let begun = sentAt.removeValue(forKey: id) {
                    result.latencies.add(Double(DispatchTime.now().uptimeNanoseconds - begun) / 1e6)
                }
            }
        }
    }
    result.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return result

    func send(_ request: Data, at time: UInt64) throws {
        let bytes = [UInt8](request)
        if let range = bytes.firstRange(of: idKey), let end = bytes[range.upperBound...].firstIndex(of: UInt8(ascii: "\"")) {
            sentAt[Substring(String(decoding: bytes[range.upperBound..<end], as: UTF8.self))] = time
        }
        try socket.send([Data(), request])
        next += 1
        outstanding += 1
    }
}
