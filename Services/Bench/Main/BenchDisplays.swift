import Foundation
import HummingbirdWSClient
import Logging
import Synchronization
import ZeroMQ

/// Event-to-display latency: `count` WebSocket displays watch a board on which one probe rep
/// leads; each probe event adds 1 to its score, and each display notes, for every probe event
/// an update newly reflects, how long after sending it the update arrived.
final class DisplayProbe: Sendable {
    private let sendTimes = Mutex<[UInt64]>([])
    private let latencies = Mutex<[Double]>([])
    private let connected = Atomic<Int>(0)
    private let base: Double
    private let tasks = Mutex<[Task<Void, Never>]>([])

    init(base: Double) { self.base = base }

    private struct Message: Decodable {
        struct Entry: Decodable {
            let member: String
            let score: Double
        }
        let type: String
        let entries: [Entry]?
    }

    func connect(url: String, count: Int) throws {
        for _ in 0..<count {
            let task = Task { [self] in
                _ = try? await WebSocketClient.connect(url: url, logger: Logger(label: "bench-display")) { inbound, _, _ in
                    self.connected.add(1, ordering: .relaxed)
                    var seen = -1
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        // When it arrived, before this process spends time decoding it.
                        let now = DispatchTime.now().uptimeNanoseconds
                        guard case .text(let text) = message,
                            let decoded = try? JSONDecoder().decode(Message.self, from: Data(text.utf8)),
                            let probe = decoded.entries?.first(where: { $0.member == "probe" })
                        else { continue }
                        let reflected = Int(probe.score - self.base)
                        if seen < 0 || decoded.type == "snapshot" { seen = reflected; continue }
                        guard reflected > seen else { continue }
                        let times = self.sendTimes.withLock { times in Array(times[min(seen, times.count)..<min(reflected, times.count)]) }
                        self.latencies.withLock { $0 += times.map { Double(now - $0) / 1e6 } }
                        seen = reflected
                    }
                }
            }
            tasks.withLock { $0.append(task) }
        }
        let deadline = Date().addingTimeInterval(30)
        while connected.load(ordering: .relaxed) < count {
            guard Date() < deadline else { throw BenchError("only \(connected.load(ordering: .relaxed)) of \(count) displays connected") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Thread.sleep(forTimeInterval: 0.5)  // snapshots in
    }

    /// Sends probe events at `rate` a second for `seconds` through ingestion.
    func probe(ingestion: String, org: String, rate: Double, seconds: Double) throws {
        let socket = try Socket(.req, options: [.linger(milliseconds: 0), .receiveTimeout(milliseconds: 5000)])
        try socket.connect(ingestion)
        let count = Int(rate * seconds)
        let start = Date()
        for index in 0..<count {
            let due = start.addingTimeInterval(Double(index) / rate)
            if due > Date() { Thread.sleep(until: due) }
            sendTimes.withLock { $0.append(DispatchTime.now().uptimeNanoseconds) }
            try socket.send(Data(#"{"id":"probe-\#(UUID().uuidString)","org":"\#(org)","rep":"probe","kind":"door_knock"}"#.utf8))
            guard try socket.receive() != nil else { throw BenchError("probe event not answered") }
        }
        Thread.sleep(forTimeInterval: 1)  // the last updates arrive
    }

    func finish() -> Latencies {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        return Latencies(values: latencies.withLock { $0 })
    }
}
