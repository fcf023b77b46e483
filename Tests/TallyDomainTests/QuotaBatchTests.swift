import Foundation
import TallyDomain
import Testing

/// A quota put's body checked entry by entry: the first bad entry is named by index and field.
@Suite struct QuotaBatchTests {
    let rules = Rules.default

    func check(_ json: String) throws(EventRejection) -> [Quota] {
        try Quota.batch(Data(json.utf8), rules: rules)
    }

    /// The error `json` is refused with, or "accepted".
    func refusal(_ json: String) -> String {
        do {
            _ = try check(json)
            return "accepted"
        } catch {
            return error.description
        }
    }

    @Test func aDefaultAndAPeriodsOwnQuotaAreRead() throws {
        let quotas = try check("""
            {"quotas": [
              {"metric": "revenue", "window": "month", "scope": "reps", "member": "ana", "target": 20000},
              {"metric": "revenue", "window": "month", "scope": "reps", "member": "ana", "target": 25000.5, "period": "2026-12"},
              {"metric": "deals", "window": "week", "scope": "teams", "member": "north", "target": 3, "period": null}]}
            """)
        #expect(quotas == [
            Quota(metric: "revenue", window: .month, scope: .reps, member: "ana", target: 20000),
            Quota(metric: "revenue", window: .month, scope: .reps, member: "ana", target: 25000.5, period: "2026-12"),
            Quota(metric: "deals", window: .week, scope: .teams, member: "north", target: 3),
        ])
    }

    @Test func everyBadFieldIsNamedWithItsEntrysIndex() {
        let good = #"{"metric": "revenue", "window": "month", "scope": "reps", "member": "ana", "target": 1}"#
        func second(_ entry: String) -> String { refusal(#"{"quotas": [\#(good), \#(entry)]}"#) }
        #expect(second(#"{"metric": "revenue", "window": "month", "scope": "reps", "member": "ana", "target": 0, "period": "2026-12"}"#)
            == "quotas[1].target: must be a number > 0")
        #expect(second(#"{"metric": "revenue", "window": "month", "scope": "reps", "member": "bo", "target": -5}"#)
            == "quotas[1].target: must be a number > 0")
        #expect(second(#"{"metric": "revenue", "window": "month", "scope": "reps", "member": "bo", "target": "5"}"#)
            == "quotas[1].target: must be a number > 0")
        #expect(second(#"{"metric": "revenue", "window": "month", "scope": "reps", "member": "bo", "target": true}"#)
            == "quotas[1].target: must be a number > 0")
        #expect(second(#"{"metric": "revenue", "window": "month", "scope": "reps", "member": "bo"}"#)
            == "quotas[1].target: must be a number > 0")
        #expect(second(#"{"metric": "dance", "window": "month", "scope": "reps", "member": "bo", "target": 1}"#)
            == "quotas[1].metric: unknown metric 'dance' (the org's metrics: points, revenue, deals, doors, appointments)")
        #expect(second(#"{"window": "month", "scope": "reps", "member": "bo", "target": 1}"#) == "quotas[1].metric: is required")
        #expect(second(#"{"metric": "revenue", "window": "all", "scope": "reps", "member": "bo", "target": 1}"#)
            == "quotas[1].window: must be one of today, week, month, quarter, year, got 'all'")
        #expect(second(#"{"metric": "revenue", "window": "7d", "scope": "reps", "member": "bo", "target": 1}"#)
            == "quotas[1].window: must be one of today, week, month, quarter, year, got '7d'")
        #expect(second(#"{"metric": "revenue", "window": "month", "scope": "people", "member": "bo", "target": 1}"#)
            == "quotas[1].scope: must be one of reps, teams, got 'people'")
        #expect(second(#"{"metric": "revenue", "window": "month", "scope": "reps", "member": "b o", "target": 1}"#)
            == "quotas[1].member: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -")
        #expect(second(#"{"metric": "revenue", "window": "month", "scope": "reps", "member": "bo#2026-12", "target": 1}"#)
            == "quotas[1].member: must be 1 to 64 characters of A-Z, a-z, 0-9 and . _ : @ -")
        #expect(second(#"{"metric": "revenue", "window": "month", "scope": "reps", "member": 7, "target": 1}"#)
            == "quotas[1].member: must be a string")
        #expect(second(#"{"metric": "revenue", "window": "month", "scope": "reps", "member": "bo", "target": 1, "period": "2026-W48"}"#)
            == "quotas[1].period: must be a month period such as 2026-11, got '2026-W48'")
        #expect(second(#"{"metric": "revenue", "window": "quarter", "scope": "reps", "member": "bo", "target": 1, "period": "2026-12"}"#)
            == "quotas[1].period: must be a quarter period such as 2026-Q4, got '2026-12'")
        #expect(second(#"{"metric": "revenue", "window": "today", "scope": "reps", "member": "bo", "target": 1, "period": "2026-02-30"}"#)
            == "quotas[1].period: must be a today period such as 2026-11-28, got '2026-02-30'")
        #expect(second(#"{"metric": "revenue", "window": "month", "scope": "reps", "member": "bo", "target": 1, "colour": "red"}"#)
            == "quotas[1].colour: unknown field (a quota has metric, window, scope, member, target and period)")
        #expect(second(#""ana""#) == #"quotas[1]: must be an object {"metric", "window", "scope", "member", "target", "period"?}"#)
        #expect(second(good) == "quotas[1]: the same metric, window, scope, member and period as quotas[0]")
    }

    @Test func theBodyAndTheListAreChecked() {
        #expect(refusal("[]") == #"quotas: must be a JSON object {"quotas": [...]} holding 1 to 10000 quotas"#)
        #expect(refusal("{}") == "quotas: is required: a list of 1 to 10000 quotas")
        #expect(refusal(#"{"quotas": []}"#) == "quotas: must hold at least one quota")
        let entries = (0...10_000).map { #"{"metric": "doors", "window": "today", "scope": "reps", "member": "r\#($0)", "target": 1}"# }
        #expect(refusal(#"{"quotas": [\#(entries.joined(separator: ","))]}"#) == "quotas: at most 10000 in one put, got 10001")
        #expect(refusal(#"{"quotas": [\#(entries.dropLast().joined(separator: ","))]}"#) == "accepted")
    }

    @Test func theOrgsRulesDecideMetricsWindowsAndScopes() throws {
        let custom = try Rules.parse("""
            metrics: {calls: {call: 1}}
            windows: [today, month, all]
            scopes: [reps]
            """)
        func refusal(_ entry: String) -> String {
            do {
                _ = try Quota.batch(Data(#"{"quotas": [\#(entry)]}"#.utf8), rules: custom)
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(refusal(#"{"metric": "revenue", "window": "month", "scope": "reps", "member": "a", "target": 1}"#)
            == "quotas[0].metric: unknown metric 'revenue' (the org's metrics: calls)")
        #expect(refusal(#"{"metric": "calls", "window": "week", "scope": "reps", "member": "a", "target": 1}"#)
            == "quotas[0].window: must be one of today, month, got 'week'")
        #expect(refusal(#"{"metric": "calls", "window": "month", "scope": "teams", "member": "a", "target": 1}"#)
            == "quotas[0].scope: must be one of reps, got 'teams'")
        #expect(refusal(#"{"metric": "calls", "window": "month", "scope": "reps", "member": "a", "target": 1}"#) == "accepted")
    }
}
