import Logging
import Redis
import ServiceLifecycle
import TallyStore

/// Closes the streams whose token was revoked: every `interval` (2 s, so within the SPEC's
/// 5 s), the org tokens of open streams are looked up again, each distinct token once, in one
/// pipelined round trip per org; a stream whose token no longer answers is closed with 4401.
/// The work is bounded by the displays the hub admits.
struct TokenWatch: Service {
    let hub: Hub
    let redis: RedisClient
    let interval: Duration
    let logger: Logger

    func run() async throws {
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            guard !Task.isCancelled && !Task.isShuttingDownGracefully else { return }
            do {
                try await check()
                if failing { logger.info("token checks of open streams work again") }
                failing = false
            } catch {
                if !failing { logger.warning("token check of open streams failed; retrying", metadata: ["error": "\(error)"]) }
                failing = true
            }
        }
    }

    /// One pass over every open stream that holds an org token. A token or an org that cannot
    /// be looked up (its shard down, its key broken) leaves its streams as they are until the
    /// next pass, and the pass goes on with the rest; the first such failure is thrown at the end.
    func check() async throws {
        let held = await hub.heldTokens()
        guard !held.isEmpty else { return }
        var byOrg: [String: [TokenStore.Lookup: [Display]]] = [:]
        for (display, lookup) in held { byOrg[lookup.org, default: [:]][lookup, default: []].append(display) }
        var failure: (any Error)?
        for (_, tokens) in byOrg {
            let lookups = Array(tokens.keys)
            let commands = lookups.map(\.command)
            let replies: [RedisReply]
            do {
                replies = try await redis.withConnection { connection in
                    try connection.pipeline(commands.map { $0 as [any RedisArgument] })
                }
            } catch {
                failure = failure ?? error
                continue
            }
            for (lookup, reply) in zip(lookups, replies) {
                do {
                    guard case .unknown = try lookup.caller(reply) else { continue }
                } catch {
                    failure = failure ?? error
                    continue
                }
                for display in tokens[lookup] ?? [] {
                    logger.info("stream closed: its token was revoked", metadata: ["display": "\(display.id)", "org": "\(display.org)"])
                    display.end(reason: "token: revoked", code: StreamAccess.unauthorized)
                }
            }
        }
        if let failure { throw failure }
    }
}
