import Foundation
import Hummingbird
import HummingbirdTesting
import Leaderboard
import Logging
import Redis
import TallyTesting
import Testing

/// The leaderboard keeps board answers while their org has not changed. What a user must never
/// notice is the keeping: a read made after an event was acknowledged, or after a name was set,
/// answers with it, on both transports; a revoked token is refused although its board's answer
/// is kept. What the operator notices is Redis's cost: a board read again and again is read
/// once per change of the org, not once per request.
@Suite(.serialized) struct ReadCacheTests {
    let floor: Floor
    init() throws { floor = try Floor() }

    /// How many times Redis ran `command` (scripts' calls included), from `INFO commandstats`.
    func calls(_ command: String) throws -> Int {
        let info = try floor.stack.redis.connection().send("INFO", "commandstats").string ?? ""
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_\(command):") }),
            let calls = line.split(separator: ",").first?.split(separator: "=").last
        else { return 0 }
        return Int(calls) ?? 0
    }

    func page(_ response: TestResponse) throws -> Page {
        try JSONDecoder().decode(Page.self, from: Data(buffer: response.body))
    }

    func page(_ answer: [String: Any]) throws -> Page {
        var fields = answer
        fields["ok"] = nil
        return try JSONDecoder().decode(Page.self, from: JSONSerialization.data(withJSONObject: fields))
    }

    @Test func aReadAfterAnAcknowledgedEventOrANewNameAnswersWithIt() async throws {
        let app = try buildLeaderboard(configuration: floor.configuration(), logger: Logger(label: "test"))
        let endpoint = floor.zmqEndpoint
        let ingestion = floor.stack.endpoint
        let path = "/v1/orgs/default/boards/points:today:reps?limit=3"
        let top = #"{"op": "top", "org": "default", "board": "points:today:reps", "limit": 3}"#
        try await app.test(.live) { client in
            let ask = try zmqClient(endpoint)
            let field = try FieldApp(ingestion)
            let first = try page(try await client.execute(uri: path, method: .get))
            #expect(first.entries == [row(1, "ana", 15, name: "Ana"), row(2, "zed", 10), row(2, "bo", 10)])

            // An answer is kept from the second time its read is asked.
            #expect(try page(try ask(top)) == first)
            // Read twenty times more over both transports with nothing changing: the same page,
            // and Redis read no page for any of them (the board has 7 members, so a page is a
            // ZREVRANGE of the board itself).
            let pagesBefore = try calls("zrevrange")
            for _ in 0..<10 {
                #expect(try page(try await client.execute(uri: path, method: .get)) == first)
                #expect(try page(try ask(top)) == first)
            }
            #expect(try calls("zrevrange") == pagesBefore)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"tally_read_cache_total{outcome="hit"} 20"#))
            #expect(metrics.contains(#"tally_read_cache_total{outcome="miss"} 2"#))

            // An event acknowledged, then the board read at once: the page has it, each time.
            // A proposal is worth 15 points: new1 has 30, new2 45, new3 60, each the new top.
            for round in 1...3 {
                for proposal in 0...round {
                    let reply = try field.request(eventJSON(id: "cache-\(round)-\(proposal)", rep: "new\(round)", kind: "proposal"))
                    try #require(reply?.results?.first?.status == "accepted", "\(String(describing: reply))")
                }
                let expected = row(1, "new\(round)", Double(15 * (round + 1)))
                #expect(try page(try await client.execute(uri: path, method: .get)).entries.first == expected, "round \(round), HTTP")
                #expect(try page(try ask(top)).entries.first == expected, "round \(round), ZeroMQ")
            }

            // A name set in the directory is on the next read.
            let put = try await client.execute(
                uri: "/v1/orgs/default/reps/new3", method: .put, headers: [.authorization: "Bearer s3cret"],
                body: ByteBuffer(string: #"{"name": "Nia Novak"}"#))
            #expect(put.status == .ok)
            #expect(try page(try ask(top)).entries.first == row(1, "new3", 60, name: "Nia Novak"))
            #expect(try page(try await client.execute(uri: path, method: .get)).entries.first == row(1, "new3", 60, name: "Nia Novak"))
        }
    }

    @Test func aBoardReadAgainCostsRedisNothingUntilItsOrgChanges() async throws {
        // A long lease: what keeps the answers fresh here must be Redis's tracking, not expiry.
        var configuration = floor.configuration()
        configuration.versionLease = .seconds(60)
        let app = try buildLeaderboard(configuration: configuration, logger: Logger(label: "test"))
        let endpoint = floor.zmqEndpoint
        let ingestion = floor.stack.endpoint
        let path = "/v1/orgs/default/boards/points:today:reps?limit=3"
        let top = #"{"op": "top", "org": "default", "board": "points:today:reps", "limit": 3}"#
        try await app.test(.live) { client in
            let ask = try zmqClient(endpoint)
            let field = try FieldApp(ingestion)
            let first = try page(try await client.execute(uri: path, method: .get))
            #expect(first.entries == [row(1, "ana", 15, name: "Ana"), row(2, "zed", 10), row(2, "bo", 10)])
            // Kept from its second asking; the org's version is learned in the background, after
            // which a read asks Redis nothing (not even the script's GET of the version).
            var quiet = false
            for _ in 0..<200 where !quiet {
                let before = try calls("get")
                #expect(try page(try ask(top)) == first)
                quiet = try calls("get") == before
                if !quiet { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(quiet, "every read still asked Redis")
            // (Not `evalsha`: the contest scheduler runs its lease script meanwhile.)
            let before = (get: try calls("get"), zrevrange: try calls("zrevrange"))
            for _ in 0..<10 {
                #expect(try page(try await client.execute(uri: path, method: .get)) == first)
                #expect(try page(try ask(top)) == first)
            }
            #expect(try calls("get") == before.get)
            #expect(try calls("zrevrange") == before.zrevrange)

            // An event acknowledged, then the board read at once: the page has it, each time,
            // although nothing has expired. A proposal is worth 15 points: new1 has 30, new2
            // 45, new3 60, each the new top.
            for round in 1...3 {
                for proposal in 0...round {
                    let reply = try field.request(eventJSON(id: "tracked-\(round)-\(proposal)", rep: "new\(round)", kind: "proposal"))
                    try #require(reply?.results?.first?.status == "accepted", "\(String(describing: reply))")
                }
                let expected = row(1, "new\(round)", Double(15 * (round + 1)))
                #expect(try page(try ask(top)).entries.first == expected, "round \(round), ZeroMQ")
                #expect(try page(try await client.execute(uri: path, method: .get)).entries.first == expected, "round \(round), HTTP")
                // Read until the new version is learned, so the next round starts from memory.
                for _ in 0..<20 { _ = try ask(top) }
            }

            // A name set through this leaderboard is on the very next read of either transport.
            for (attempt, name) in ["Nia Novak", "Nia N."].enumerated() {
                // Answered only after one more round trip to the org's master (other
                // leaderboards' watches have then been told), so one EXISTS per write.
                let fences = try calls("exists")
                defer { #expect((try? calls("exists")) == fences + 1, "a write answered without its fence") }
                let put = try await client.execute(
                    uri: "/v1/orgs/default/reps/new3", method: .put, headers: [.authorization: "Bearer s3cret"],
                    body: ByteBuffer(string: #"{"name": "\#(name)"}"#))
                #expect(put.status == .ok)
                let expected = row(1, "new3", 60, name: name)
                if attempt == 0 {
                    #expect(try page(try ask(top)).entries.first == expected)
                } else {
                    #expect(try page(try await client.execute(uri: path, method: .get)).entries.first == expected)
                }
                for _ in 0..<20 { _ = try ask(top) }
            }
        }
    }

    @Test func aRevokedTokenIsRefusedAlthoughItsBoardsAnswerIsKept() async throws {
        var configuration = floor.configuration()
        configuration.openReads = false
        let app = try buildLeaderboard(configuration: configuration, logger: Logger(label: "test"))
        let endpoint = floor.zmqEndpoint
        try await app.test(.live) { client in
            let created = try await client.execute(
                uri: "/v1/orgs/default/tokens", method: .post, headers: [.authorization: "Bearer s3cret"],
                body: ByteBuffer(string: #"{"role": "viewer", "name": "office tv"}"#))
            let minted = try #require(try JSONSerialization.jsonObject(with: Data(buffer: created.body)) as? [String: Any])
            let token = try #require(minted["token"] as? String)
            let id = try #require(minted["id"] as? String)
            let path = "/v1/orgs/default/boards/points:today:reps"
            let viewer: HTTPFields = [.authorization: "Bearer \(token)"]
            let ask = try zmqClient(endpoint)
            let top = #"{"op": "top", "org": "default", "board": "points:today:reps", "token": "\#(token)"}"#
            for _ in 0..<3 {
                #expect(try await client.execute(uri: path, method: .get, headers: viewer).status == .ok)
                #expect(try ask(top)["ok"] as? Bool == true)
            }

            let revoked = try await client.execute(uri: "/v1/orgs/default/tokens/\(id)", method: .delete, headers: [.authorization: "Bearer s3cret"])
            #expect(revoked.status == .noContent)
            #expect(try await client.execute(uri: path, method: .get, headers: viewer).status == .unauthorized)
            #expect(try ask(top)["ok"] as? Bool == false)
        }
    }
}
