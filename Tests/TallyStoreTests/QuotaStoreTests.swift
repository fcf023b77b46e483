import Foundation
import Redis
import TallyDomain
import TallyStore
import TallyTesting
import Testing

/// Quotas in Redis: the scripts' layout, and what a later scoring script reads with one HMGET.
@Suite struct QuotaStoreTests {
    @Test func aPutsCallNamesEveryHashItWritesInKeys() {
        let call = QuotaStore.putCall(org: "acme", [
            Quota(metric: "revenue", window: .month, scope: .reps, member: "ana", target: 20000),
            Quota(metric: "deals", window: .week, scope: .teams, member: "north", target: 2.5, period: "2026-W49"),
            Quota(metric: "revenue", window: .month, scope: .reps, member: "ana", target: 30000, period: "2026-12"),
        ])
        #expect(call.keys == ["{acme}:seq", "{acme}:quotas", "{acme}:quota:revenue:month:reps", "{acme}:quota:deals:week:teams"])
        #expect(call.arguments == [
            "revenue:month:reps", "deals:week:teams",
            "1", "ana", "20000",
            "2", "north#2026-W49", "2.5",
            "1", "ana#2026-12", "30000",
        ])
        #expect(QuotaStore.deleteCall(org: "acme", board: BoardID(metric: "revenue", window: .month, scope: .reps), member: "ana", period: "2026-12")
            == ScriptCall(keys: ["{acme}:seq", "{acme}:quotas", "{acme}:quota:revenue:month:reps"], arguments: ["revenue:month:reps", "ana#2026-12"]))
    }

    @Test func aTargetIsOneHMGETAwayAndEveryWriteMovesTheVersion() async throws {
        let server = try RedisServer()
        let connection = server.connection()
        func version() throws -> Int64 { try connection.send("GET", "{acme}:seq").string.flatMap { Int64($0) } ?? 0 }
        try await RedisClient.with(server.configuration) { redis in
            let store = QuotaStore(redis: redis)
            #expect(try await store.put(org: "acme", [
                Quota(metric: "revenue", window: .month, scope: .reps, member: "ana", target: 20000),
                Quota(metric: "revenue", window: .month, scope: .reps, member: "ana", target: 30000, period: "2026-12"),
                Quota(metric: "revenue", window: .month, scope: .reps, member: "bo@acme.example", target: 12500.75),
            ]).saved == 3)
            #expect(try version() >= 1)
            var seen = try version()

            // December has its own; November falls back to the default; cy has none.
            let key = "{acme}:quota:revenue:month:reps"
            func target(_ member: String, _ period: String) throws -> String? {
                let fields = QuotaStore.lookupFields(member: member, period: period)
                let reply = try connection.send(["HMGET", key] + fields).array ?? []
                return reply.compactMap(\.string).first
            }
            #expect(try target("ana", "2026-12") == "30000")
            #expect(try target("ana", "2026-11") == "20000")
            #expect(try target("bo@acme.example", "2026-12") == "12500.75")
            #expect(try target("cy", "2026-12") == nil)
            #expect(try connection.send("SMEMBERS", "{acme}:quotas").array?.compactMap(\.string) == ["revenue:month:reps"])

            // A put overwrites the same quota, and moves the version again.
            _ = try await store.put(org: "acme", [Quota(metric: "revenue", window: .month, scope: .reps, member: "ana", target: 21000)])
            #expect(try target("ana", "2026-11") == "21000")
            #expect(try version() > seen)
            seen = try version()

            // Deleting a quota that is not there changes nothing, the version included.
            let board = BoardID(metric: "revenue", window: .month, scope: .reps)
            #expect(try await store.delete(org: "acme", board: board, member: "ana", period: "2027-01") == nil)
            #expect(try version() == seen)
            #expect(try await store.delete(org: "acme", board: board, member: "ana", period: "2026-12") != nil)
            #expect(try version() > seen)
            seen = try version()
            #expect(try target("ana", "2026-12") == "21000")

            // The board's last quota gone, the board leaves the index.
            #expect(try await store.delete(org: "acme", board: board, member: "ana", period: nil) != nil)
            #expect(try await store.delete(org: "acme", board: board, member: "bo@acme.example", period: nil) != nil)
            #expect(try connection.send("EXISTS", key).int == 0)
            #expect(try connection.send("SCARD", "{acme}:quotas").int == 0)
            #expect(try version() > seen)
        }
    }

    @Test func listingFiltersByMetricWindowScopeAndMember() async throws {
        let server = try RedisServer()
        try await RedisClient.with(server.configuration) { redis in
            let store = QuotaStore(redis: redis)
            let all = [
                Quota(metric: "revenue", window: .month, scope: .reps, member: "ana", target: 20000),
                Quota(metric: "revenue", window: .month, scope: .reps, member: "ana", target: 30000, period: "2026-12"),
                Quota(metric: "revenue", window: .month, scope: .reps, member: "anabel", target: 5),
                Quota(metric: "revenue", window: .quarter, scope: .teams, member: "north", target: 90000),
                Quota(metric: "deals", window: .week, scope: .reps, member: "ana", target: 3),
            ]
            _ = try await store.put(org: "acme", all.reversed())
            _ = try await store.put(org: "other", [Quota(metric: "deals", window: .week, scope: .reps, member: "zed", target: 1)])
            // Board (metric, window, scope), then member, then the default before periods.
            #expect(try await store.list(org: "acme") == [all[4], all[0], all[1], all[2], all[3]])
            #expect(try await store.list(org: "acme", metric: "revenue") == [all[0], all[1], all[2], all[3]])
            #expect(try await store.list(org: "acme", window: .month) == [all[0], all[1], all[2]])
            #expect(try await store.list(org: "acme", scope: .teams) == [all[3]])
            #expect(try await store.list(org: "acme", member: "ana") == [all[4], all[0], all[1]])
            #expect(try await store.list(org: "acme", metric: "revenue", window: .month, scope: .reps, member: "ana") == [all[0], all[1]])
            #expect(try await store.list(org: "acme", metric: "points") == [])
            #expect(try await store.list(org: "nobody") == [])
        }
    }
}
