import Foundation
import Redis
import Synchronization
import TallyTesting
import Testing
import ZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// The front door under hostile or careless peers: a worker identity that answers jobs it was
/// not given, a worker stopped mid-job, a client that keeps too much in flight, a flood of
/// 1 MiB requests, and jobs whose events are as large as the rules allow.
@Suite(.serialized) struct BrokerHardeningTests {
    /// A DEALER field app that keeps several requests in flight.
    func dealer(_ endpoint: String, receiveTimeoutMs: Int32 = 20_000) throws -> Socket {
        let socket = try Socket(.dealer, options: [.receiveTimeout(milliseconds: receiveTimeoutMs), .linger(milliseconds: 0)])
        try socket.connect(endpoint)
        return socket
    }

    func reply(_ frames: [Data]) throws -> Reply {
        try JSONDecoder().decode(Reply.self, from: frames[frames.count - 1])
    }

    /// A string of `count` copies of a four-byte scalar: the most bytes a length rule allows.
    func wide(_ count: Int, _ scalar: String = "😀") -> String { String(repeating: scalar, count: count) }

    @Test func aDoneFromAnotherIdentityLeavesTheJobToItsWorker() throws {
        let stack = try TallyStack()
        try stack.startIngestion()
        let worker = try stack.startWorker()
        // The worker holds its job without answering while the hostile DONEs arrive.
        worker.signal(SIGSTOP)
        let app = try dealer(stack.endpoint)
        try app.send([Data(), Data(eventJSON(id: "honest-1", rep: "rep-h", kind: "call").utf8)])
        Thread.sleep(forTimeInterval: 0.2)
        // Anyone on the worker port, counting job ids: "done, all duplicates".
        let hostile = try dealer("tcp://127.0.0.1:\(stack.workerPort)")
        for job in 1...20 {
            try hostile.send([Data("DONE".utf8), Data(String(job).utf8), Data(#"{"outcomes":"d"}"#.utf8)])
        }
        Thread.sleep(forTimeInterval: 0.3)
        worker.signal(SIGCONT)

        let frames = try #require(try app.receive(), "the field app got no answer\n\(stack.logs)")
        let answer = try reply(frames)
        #expect(answer.ok, "\(answer)")
        #expect(answer.results?.map(\.status) == ["accepted"], "\(answer)")
        #expect(try stack.redis.connection().board("{default}:board:points:all:reps:all") == ["rep-h": 1])
    }

    @Test func aJobAWorkerSitsOnGoesToAnother() throws {
        let stack = try TallyStack()
        try stack.startIngestion()
        try stack.startWorker()
        // A peer on the worker port that says READY and keeps heartbeating, but never reads.
        let stop = StopFlag()
        let workerEndpoint = "tcp://127.0.0.1:\(stack.workerPort)"
        let heartbeats = Thread {
            guard let hostile = try? Socket(.dealer, options: [.receiveHighWaterMark(1), .linger(milliseconds: 0)]),
                (try? hostile.connect(workerEndpoint)) != nil, (try? hostile.send(Data("READY".utf8))) != nil
            else { return }
            while !stop.isSet {
                _ = try? hostile.send(Data("HB".utf8), dontWait: true)
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        heartbeats.start()
        defer { stop.set() }
        try wait("the hostile peer to join", seconds: 5) {
            stack.ingestion!.output.components(separatedBy: "worker joined").count == 3
        }
        let app = try dealer(stack.endpoint, receiveTimeoutMs: 30_000)
        // One request for each worker, in turn: the second job goes to the one that never answers.
        for request in 0..<2 {
            try app.send([Data(), Data(eventJSON(id: "held-\(request)", rep: "rep-held", kind: "call").utf8)])
            let frames = try #require(try app.receive(), "request \(request) went unanswered\n\(stack.logs.suffix(3_000))")
            #expect(try reply(frames).results?.map(\.status) == ["accepted"])
        }
    }

    @Test func aJobEveryWorkerLosesIsAnsweredUnavailableNotRetriedForever() throws {
        let stack = try TallyStack()
        try stack.startIngestion(["--job-timeout-ms", "300"])
        // A peer that joins again and again (as a worker whose connection libzmq keeps
        // re-establishing would) but never reads its job: every attempt at the job is lost.
        let stop = StopFlag()
        let workerEndpoint = "tcp://127.0.0.1:\(stack.workerPort)"
        let rejoining = Thread {
            guard let hostile = try? Socket(.dealer, options: [.receiveHighWaterMark(1), .linger(milliseconds: 0)]),
                (try? hostile.connect(workerEndpoint)) != nil
            else { return }
            while !stop.isSet {
                _ = try? hostile.send(Data("READY".utf8), dontWait: true)
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        rejoining.start()
        defer { stop.set() }
        let app = try dealer(stack.endpoint, receiveTimeoutMs: 15_000)
        try app.send([Data(), Data(eventJSON(id: "lost-1", rep: "rep-lost", kind: "call").utf8)])
        let frames = try #require(try app.receive(), "the request was never answered\n\(stack.logs.suffix(3_000))")
        let answer = try reply(frames)
        #expect(answer.ok == false && answer.error == "unavailable" && answer.retry_after_ms != nil, "\(answer)")
    }

    @Test func aWorkerStoppedMidJobAnswersItAndSaysGoodbye() throws {
        let stack = try TallyStack()
        try stack.startIngestion()
        let worker = try stack.startWorker()
        worker.signal(SIGSTOP)
        let app = try dealer(stack.endpoint)
        // A long DONE (a thousand wide rejections) takes longest to leave.
        let events = [eventJSON(id: "last-1", rep: "rep-l", kind: "call")]
            + (1..<1_000).map { eventJSON(id: "last-\($0)-" + wide(100), rep: "rep-l", kind: wide(64, "🕺")) }
        try app.send([Data(), Data(batchJSON(events).utf8)])
        Thread.sleep(forTimeInterval: 0.2)
        // SIGTERM waits while the worker is stopped; it resumes with a job and a stop at once.
        worker.signal(SIGTERM)
        worker.signal(SIGCONT)

        let frames = try #require(try app.receive(), "the field app got no answer\n\(stack.logs)")
        let answer = try reply(frames)
        let statuses = answer.results?.map(\.status) ?? []
        #expect(statuses.count == 1_000 && statuses[0] == "accepted" && statuses.dropFirst().allSatisfy { $0 == "rejected" },
                "the field app got \(answer.error ?? "\(statuses.count) results")\n\(stack.logs)")
        #expect(worker.wait() == 0, "\(stack.logs)")
        try wait("ingestion to hear the worker's BYE", seconds: 5) {
            stack.ingestion!.output.contains("worker removed") && stack.ingestion!.output.contains("reason=left")
        }
    }

    @Test func aClientOverItsBoundIsToldUnavailableAndOthersAreServed() throws {
        let stack = try TallyStack()
        try stack.startIngestion()
        try stack.startWorker()
        // A greedy client keeps 200 requests of 1,000 events in flight, sending another for
        // every answer: always more work waiting than a worker does in seconds.
        let stop = StopFlag()
        let unavailable = Counter()
        let answered = Counter()
        let started = StopFlag()
        let endpoint = stack.endpoint
        let greedy = Thread {
            guard let socket = try? Socket(.dealer, options: [.receiveTimeout(milliseconds: 100), .linger(milliseconds: 0)]),
                (try? socket.connect(endpoint)) != nil
            else { return }
            var sent = 0
            func send() {
                let events = (0..<1_000).map { #"{"id":"g\#(sent)-\#($0)","kind":"call","rep":"rep-\#($0 % 20)"}"# }
                _ = try? socket.send([Data(), Data(batchJSON(events).utf8)])
                sent += 1
            }
            for _ in 0..<200 { send() }
            started.set()
            while !stop.isSet {
                guard let frames = try? socket.receive() else { continue }
                answered.add()
                if let answer = try? JSONDecoder().decode(Reply.self, from: frames[frames.count - 1]), !answer.ok,
                    answer.error == "unavailable", (answer.retry_after_ms ?? 0) > 0
                {
                    unavailable.add()
                }
                send()
            }
        }
        greedy.start()
        try wait("the greedy client to send its first 200", seconds: 60) { started.isSet }
        Thread.sleep(forTimeInterval: 0.5)

        // A polite client, one request at a time, is served all along.
        let app = try FieldApp(stack.endpoint)
        var answers: [String] = []
        for request in 0..<5 {
            let answer = try app.request(eventJSON(id: "polite-\(request)", rep: "rep-p", kind: "call"))
            answers.append(answer.map { $0.ok ? ($0.results?.first?.status ?? "?") : ($0.error ?? "?") } ?? "no answer")
        }
        stop.set()
        #expect(answers == Array(repeating: "accepted", count: 5), "\(stack.logs.suffix(3_000))")
        // The greedy client hears about its excess, as `unavailable` with a retry hint.
        #expect(unavailable.value > 0)
        print("greedy client: \(answered.value) answers, \(unavailable.value) unavailable; polite client: \(answers)")
    }

    @Test func aFloodOfLargeRequestsNeitherStarvesAFieldAppNorSwellsIngestion() throws {
        let stack = try TallyStack()
        try stack.startIngestion()
        try stack.startWorker()
        let pid = stack.ingestion!.pid
        let limit = 512 << 20
        let stop = StopFlag()
        // Three clients pour ~1 MiB requests (1,000 events of ids and names as wide as allowed)
        // as fast as the socket takes them, and read whatever comes back.
        let endpoint = stack.endpoint
        let flooders = (0..<3).map { client -> Thread in
            let events = (0..<1_000).map { n in
                eventJSON(id: "\(client)-\(n)-" + wide(118), rep: "flood-\(client)", name: wide(100), kind: "call")
            }
            let body = Data(batchJSON(events).utf8)
            precondition(body.count < 1 << 20)
            let thread = Thread {
                guard let socket = try? Socket(.dealer, options: [.sendHighWaterMark(2), .linger(milliseconds: 0)]),
                    (try? socket.connect(endpoint)) != nil
                else { return }
                while !stop.isSet {
                    if (try? socket.send([Data(), body], dontWait: true)) != true { Thread.sleep(forTimeInterval: 0.001) }
                    while (try? socket.receive(dontWait: true)) ?? nil != nil {}
                }
            }
            thread.start()
            return thread
        }
        _ = flooders

        let app = try FieldApp(stack.endpoint)
        var latencies: [Double] = []
        var answers: [Reply?] = []
        var peak = 0
        // 10 s by default; docs/benchmarks.md's figure is with FLOOD_SECONDS=15.
        let seconds = ProcessInfo.processInfo.environment["FLOOD_SECONDS"].flatMap(Double.init) ?? 10
        let end = Date().addingTimeInterval(seconds)
        var request = 0
        while Date() < end && peak < limit {
            let sent = Date()
            answers.append(try app.request(eventJSON(id: "steady-\(request)", rep: "rep-s", kind: "call")))
            latencies.append(Date().timeIntervalSince(sent))
            request += 1
            peak = max(peak, residentBytes(pid))
            Thread.sleep(forTimeInterval: 0.2)
            peak = max(peak, residentBytes(pid))
        }
        stop.set()
        print("flood: ingestion peak RSS \(peak >> 20) MiB; steady client \(answers.count) requests, latency max \(Int((latencies.max() ?? 0) * 1000)) ms, median \(Int(latencies.sorted()[latencies.count / 2] * 1000)) ms")
        #expect(peak < limit, "ingestion grew to \(peak >> 20) MiB")
        let served = answers.filter { $0?.ok == true && $0?.results?.map(\.status) == ["accepted"] }.count
        #expect(served == answers.count, "the steady client was served \(served) of \(answers.count): \(answers.filter { $0?.ok != true }.prefix(3))")
        Thread.sleep(forTimeInterval: 0.1)
    }

    @Test func jobsAreSizedByBytesSoNoJobOrResultOutgrowsASocket() throws {
        // Twenty jobs of 1 MiB take a while on a busy machine: no request should expire waiting.
        let stack = try TallyStack(unavailableAfterMs: 15_000)
        // As many events per job as an operator may ask for: 20 requests of 1,000 wide events
        // would make one job larger than a worker takes, and a result larger than ingestion takes.
        try stack.startIngestion(["--max-batch-events", "20000"])
        let worker = try stack.startWorker()
        worker.signal(SIGSTOP)
        let clients = try (0..<20).map { client -> Socket in
            let socket = try dealer(stack.endpoint)
            let events = (0..<1_000).map { n in
                eventJSON(id: "\(client)-\(n)-" + wide(95), rep: "rep-w", name: wide(60), kind: wide(64, "🕺"))
            }
            let body = Data(batchJSON(events).utf8)
            precondition(body.count < 1 << 20, "\(body.count)")
            try socket.send([Data(), body])
            return socket
        }
        Thread.sleep(forTimeInterval: 0.5)
        worker.signal(SIGCONT)

        for client in clients {
            let frames = try #require(try client.receive(), "a request went unanswered\n\(stack.logs)")
            let answer = try reply(frames)
            try #require(answer.ok, "\(answer)\n\(stack.logs.suffix(4_000))")
            #expect(answer.results?.count == 1_000)
            #expect(answer.results?.allSatisfy { $0.status == "rejected" && $0.error?.contains("unknown activity kind") == true } == true)
        }
    }
}

/// What one job spanning many orgs costs in Redis round trips, counted by Redis itself.
@Suite struct ManyOrgsTests {
    @Test func aJobSpanningAThousandOrgsCostsABoundedNumberOfRoundTrips() throws {
        let stack = try TallyStack()
        try stack.startIngestion()
        try stack.startWorker()
        let app = try FieldApp(stack.endpoint)
        // The scripts are loaded and the worker connected before counting.
        _ = try #require(try app.request(eventJSON(id: "warm-1", rep: "rep-1", kind: "call")))
        let redis = stack.redis.connection()
        func reads() throws -> Int {
            let info = try redis.send("INFO", "stats").string ?? ""
            let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("total_reads_processed:") }
            return Int(line?.split(separator: ":")[1] ?? "") ?? 0
        }
        let before = try reads()
        let events = (0..<1_000).map { eventJSON(id: "o-\($0)", org: "invented-\($0)", rep: "rep-1", kind: "call") }
        let answer = try #require(try app.request(batchJSON(events)), "\(stack.logs)")
        let roundTrips = try reads() - before - 1
        print("one request over 1,000 orgs: \(roundTrips) reads by Redis")
        #expect(answer.results?.count == 1_000 && answer.results?.allSatisfy { $0.status == "accepted" } == true, "\(answer)")
        #expect(try redis.board("{invented-999}:board:points:all:reps:all") == ["rep-1": 1])
        // Pipelined, a thousand orgs' reads and scripts arrive in a few dozen reads at most;
        // one after another they are at least two per org.
        #expect(roundTrips < 200)
    }
}

final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add() { count.add(1, ordering: .relaxed) }
}

/// A process's resident set size, from /proc.
func residentBytes(_ pid: pid_t) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
    else { return 0 }
    return kilobytes << 10
}
