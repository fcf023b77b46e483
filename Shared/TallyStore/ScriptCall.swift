import Foundation
import Redis

/// One call of a script: the keys it touches and its other arguments, as one Swift function
/// per script builds them (tests pin each layout down).
package struct ScriptCall: Sendable, Equatable {
    package var keys: [String]
    package var arguments: [String]

    package init(keys: [String], arguments: [String]) {
        self.keys = keys
        self.arguments = arguments
    }

    /// As `RedisClient.pipeline` and `RedisConnection.pipeline` take it.
    package var pair: (keys: [String], arguments: [String]) { (keys, arguments) }
}

extension RedisConnection {
    /// Runs one script call (EVALSHA, loading the script when the server lacks it).
    package func run(_ script: RedisScript, _ call: ScriptCall) throws(RedisError) -> RedisReply {
        try run(script, keys: call.keys, arguments: call.arguments)
    }
}

/// The store's Lua scripts, embedded from the `.lua` files beside the Swift that calls them.
package enum Scripts {
    /// Applies a batch whose sums the worker made (`BoardWriter`).
    package static let applySums = RedisScript(String(decoding: PackageResources.apply_sums_lua, as: UTF8.self))
    /// Applies a batch event by event (`BoardWriter`).
    package static let applyEvents = RedisScript(String(decoding: PackageResources.apply_events_lua, as: UTF8.self))
    /// Reads a page, a rank or the entries around a member (`BoardReader`).
    package static let readBoard = RedisScript(String(decoding: PackageResources.read_board_lua, as: UTF8.self))
    /// Retracts or amends one event (`EventLog`).
    package static let correctEvent = RedisScript(String(decoding: PackageResources.correct_event_lua, as: UTF8.self))
    /// Stores a new org token under the org's cap (`TokenStore`).
    package static let createToken = RedisScript(String(decoding: PackageResources.create_token_lua, as: UTF8.self))
    /// Saves a batch of quotas and moves the org's version (`QuotaStore`).
    package static let putQuotas = RedisScript(String(decoding: PackageResources.put_quotas_lua, as: UTF8.self))
    /// Brings attainment boards in line with scores and quotas (`AttainmentSync`).
    package static let syncAttainment = RedisScript(String(decoding: PackageResources.sync_attainment_lua, as: UTF8.self))
    /// Deletes one quota and moves the org's version (`QuotaStore`).
    package static let deleteQuota = RedisScript(String(decoding: PackageResources.delete_quota_lua, as: UTF8.self))
}
