import Foundation
import Testing
import TallyDomain

@Suite struct EventRequestTests {
    // 2026-11-29T12:00:00Z
    let now: Int64 = 1_795_953_600_000

    func decode(_ json: String) throws -> EventRequest {
        try EventRequest.decode(Data(json.utf8), receivedAt: now)
    }

    func single(_ json: String) throws -> Result<ActivityEvent, EventRejection> {
        guard case .events(let items) = try decode(json), items.count == 1 else {
            Issue.record("expected one event")
            return .failure(EventRejection("test", "no event"))
        }
        return items[0].outcome
    }

    @Test func aFullEventIsNormalized() throws {
        let event = try single(#"{"id":"e1","org":"acme","rep":"ana@acme","rep_name":"Ana Lía","team":"north","kind":"deal_won","value":1250.5,"at":"2026-11-29T13:00:00+01:00"}"#).get()
        #expect(event == ActivityEvent(
            id: "e1", org: "acme", rep: "ana@acme", repName: "Ana Lía", team: "north", kind: "deal_won",
            value: 1250.5, at: now))
    }

    @Test func defaultsApply() throws {
        let event = try single(#"{"id":"e1","rep":"r1","kind":"call"}"#).get()
        #expect(event.org == "default")
        #expect(event.value == 1)
        #expect(event.at == now)
        #expect(event.team == nil && event.repName == nil)
    }

    @Test func fractionalSecondsAndLowercaseAreRFC3339() throws {
        #expect(try single(#"{"id":"e","rep":"r","kind":"call","at":"2026-11-29t11:59:59.500z"}"#).get().at == now - 500)
    }

    static let refusals: [(String, String)] = [
        (#"{"rep":"r","kind":"call"}"#, "id: is required"),
        (#"{"id":"","rep":"r","kind":"call"}"#, "id: must be a string of 1 to 128 characters"),
        (#"{"id":"\#(String(repeating: "x", count: 129))","rep":"r","kind":"call"}"#, "id: must be a string of 1 to 128 characters"),
        (#"{"id":7,"rep":"r","kind":"call"}"#, "id: must be a string of 1 to 128 characters"),
        (#"{"id":"e","org":"Acme","rep":"r","kind":"call"}"#, "org: must be 1 to 64 characters of a-z, 0-9 and -"),
        (#"{"id":"e","org":"\#(String(repeating: "a", count: 65))","rep":"r","kind":"call"}"#, "org: must be 1 to 64 characters of a-z, 0-9 and -"),
        (#"{"id":"e","kind":"call"}"#, "rep: is required"),
        (#"{"id":"e","rep":"ana smith","kind":"call"}"#, "rep: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -"),
        (#"{"id":"e","rep":"\#(String(repeating: "r", count: 65))","kind":"call"}"#, "rep: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -"),
        (#"{"id":"e","rep":"r","rep_name":"\#(String(repeating: "n", count: 101))","kind":"call"}"#, "rep_name: must be a string of at most 100 characters"),
        (#"{"id":"e","rep":"r","team":"north/east","kind":"call"}"#, "team: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -"),
        (#"{"id":"e","rep":"r"}"#, "kind: is required"),
        (#"{"id":"e","rep":"r","kind":""}"#, "kind: must be a string of 1 to 64 characters"),
        (#"{"id":"e","rep":"r","kind":"call","value":-1}"#, "value: must be finite and between 0 and 1e12"),
        (#"{"id":"e","rep":"r","kind":"call","value":1000000000001}"#, "value: must be finite and between 0 and 1e12"),
        (#"{"id":"e","rep":"r","kind":"call","value":"12"}"#, "value: must be finite and between 0 and 1e12"),
        (#"{"id":"e","rep":"r","kind":"call","value":1e999}"#, "value: must be finite and between 0 and 1e12"),
        (#"{"id":"e","rep":"r","kind":"call","at":"yesterday"}"#, "at: must be an RFC 3339 time such as 2026-11-29T14:05:00Z"),
        (#"{"id":"e","rep":"r","kind":"call","at":"2026-11-29T12:05:01Z"}"#, "at: is more than 5 minutes ahead of the server clock"),
        (#"[1]"#, "request: must be a JSON object: an event, or {\"events\": [...]}"),
        // Lengths count Unicode scalars: one letter and its combining marks is not one character.
        (#"{"id":"e","rep":"r","rep_name":"n\#(marks(100))","kind":"call"}"#, "rep_name: must be a string of at most 100 characters"),
        (#"{"id":"x\#(marks(128))","rep":"r","kind":"call"}"#, "id: must be a string of 1 to 128 characters"),
        (#"{"id":"e","rep":"r","kind":"k\#(marks(64))"}"#, "kind: must be a string of 1 to 64 characters"),
    ]

    /// `n` combining acute accents (U+0301): one grapheme cluster with the letter before them.
    static func marks(_ n: Int) -> String { String(repeating: "\u{0301}", count: n) }

    @Test func lengthsAtTheirLimitsInScalarsAreAccepted() throws {
        let event = try single(#"{"id":"x\#(Self.marks(127))","rep":"r","rep_name":"n\#(Self.marks(99))","kind":"call"}"#).get()
        #expect(event.repName?.unicodeScalars.count == 100)
        #expect(event.id.unicodeScalars.count == 128)
    }

    @Test func aRejectionQuotesAtMost64CharactersOfTheValue() {
        let long = String(repeating: "é", count: 70)
        #expect(long.quoted == "'" + String(repeating: "é", count: 64) + "…'")
        #expect("a\(Self.marks(600))".quoted.unicodeScalars.count == 67)  // quotes, 64 scalars, the ellipsis
        #expect("dance".quoted == "'dance'")
    }

    @Test(arguments: refusals)
    func eachRuleRefusesWithItsField(json: String, expected: String) throws {
        do {
            let outcome = try single(json)
            #expect(throws: EventRejection.self) { try outcome.get() }
            if case .failure(let rejection) = outcome { #expect(rejection.description == expected) }
        } catch let unreadable as EventRequest.Unreadable {
            #expect(unreadable.description == expected)
        }
    }

    @Test func exactlyFiveMinutesAheadIsAccepted() throws {
        #expect(try single(#"{"id":"e","rep":"r","kind":"call","at":"2026-11-29T12:05:00Z"}"#).get().at == now + 300_000)
    }

    @Test func aBatchKeepsOrderAndRefusesOnlyTheBadOnes() throws {
        guard case .events(let items) = try decode(#"{"events":[{"id":"a","rep":"r","kind":"call"},{"id":"b","rep":"r","kind":"call","value":-5},"nope",{"id":"c","rep":"r","kind":"demo"}]}"#) else {
            Issue.record("expected events")
            return
        }
        #expect(items.map(\.id) == ["a", "b", nil, "c"])
        #expect((try? items[0].outcome.get())?.kind == "call")
        #expect(items[1].outcome == .failure(EventRejection("value", "must be finite and between 0 and 1e12")))
        #expect(items[2].outcome == .failure(EventRejection("event", "must be a JSON object")))
        #expect((try? items[3].outcome.get())?.kind == "demo")
    }

    @Test func unreadableRequestsNameTheProblem() throws {
        func problem(_ data: Data) -> String? {
            do {
                _ = try EventRequest.decode(data, receivedAt: now)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(problem(Data("{not json".utf8)) == "request: not valid JSON")
        #expect(problem(Data([0x7b, 0xff, 0xfe, 0x7d])) == "request: not valid UTF-8")
        #expect(problem(Data(#"{"events":[]}"#.utf8)) == "events: must be an array of 1 to 1000 events")
        #expect(problem(Data(#"{"events":{}}"#.utf8)) == "events: must be an array of 1 to 1000 events")
        let tooMany = "{\"events\":[" + Array(repeating: #"{"id":"x","rep":"r","kind":"call"}"#, count: 1001).joined(separator: ",") + "]}"
        #expect(problem(Data(tooMany.utf8)) == "events: must be an array of 1 to 1000 events")
        #expect(problem(Data(#"{"op":"top"}"#.utf8)) == "op: unknown operation 'top' (this endpoint takes events and ping)")
        #expect(try decode(#"{"op":"ping"}"#) == .ping)
    }
}
