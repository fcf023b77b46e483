import Foundation
import TallyDomain
import TallyService
import Testing

/// What ingestion and a scoring worker say to each other must read back exactly as written.
@Suite struct WorkerProtocolTests {
    @Test func aJobReadsBackAsTheEventsItCarried() throws {
        let events = [
            ActivityEvent(id: "e-1", rep: "rep-1", kind: "door_knock", at: 1_764_460_800_000),
            ActivityEvent(
                id: "deal:2@x", org: "acme-eu", rep: "ana.k", repName: "Ana \"K\" Łukasz 🚀\n\u{1F}", team: "north",
                kind: "deal_won", value: 12_345.67, at: -1),
            ActivityEvent(id: "e-3", rep: "r", repName: "", team: nil, kind: "call", value: -0.5, at: Int64.max),
        ]
        let job = Job(events: events)
        #expect(try Job(encoded: job.encoded()) == job)
        #expect(try Job(encoded: Job(events: []).encoded()).events.isEmpty)
    }

    @Test func aTruncatedJobIsRefusedNotMisread() throws {
        let bytes = Job(events: [ActivityEvent(id: "e-1", rep: "rep-1", repName: "Ana", kind: "call", at: 0)]).encoded()
        for length in [1, 4, 10, bytes.count - 1] {
            #expect(throws: Job.Malformed.self) { try Job(encoded: bytes.prefix(length)) }
        }
    }

    @Test func aResultCarriesEachOutcomeAndEveryRejectionReason() throws {
        let result = JobResult(statuses: [
            EventStatus(id: "a", status: .accepted), EventStatus(id: "b", status: .duplicate),
            EventStatus(id: "c", status: .rejected, error: "kind: unknown activity kind 'x'"), EventStatus(id: "d", status: .accepted),
        ])
        let json = try JSONEncoder().encode(result)
        #expect(String(decoding: json, as: UTF8.self).contains(#""outcomes":"adra""#))
        let decoded = try JSONDecoder().decode(JobResult.self, from: json)
        #expect(decoded.statuses.map(\.status) == [.accepted, .duplicate, .rejected, .accepted])
        #expect(decoded.statuses[2].error == "kind: unknown activity kind 'x'")
        #expect(decoded.error == nil)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(JobResult.self, from: Data(#"{"outcomes":"ax"}"#.utf8)) }
    }
}
