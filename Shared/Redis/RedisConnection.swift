import CHiredis
import Foundation

/// A blocking connection to Redis over hiredis. Not thread-safe: one owner calls it from one
/// thread at a time (a worker's own thread, or a `RedisClient` connection's thread), never from the
/// cooperative pool.
///
/// The connection is made on first use. When it breaks, the call in flight throws a
/// `.connection` error and the next call connects again.
package final class RedisConnection {
    package let configuration: RedisConfiguration
    private var context: UnsafeMutablePointer<redisContext>?
    /// SHA1 of each script already loaded into this server, keyed by source.
    private var scriptSHAs: [String: String] = [:]

    package init(_ configuration: RedisConfiguration) {
        self.configuration = configuration
    }

    package convenience init(url: String) throws(RedisError) {
        self.init(try RedisConfiguration(url: url))
    }

    deinit {
        if let context { redisFree(context) }
    }

    package var isConnected: Bool { context != nil }

    /// Connects now, instead of on the first command.
    package func connect() throws(RedisError) {
        _ = try connectedContext()
    }

    /// Closes the connection; the next command opens a new one.
    package func disconnect() {
        if let context { redisFree(context) }
        context = nil
    }

    /// Sends one command and waits for its reply. An error reply is thrown.
    @discardableResult
    package func send(_ arguments: [any RedisArgument]) throws(RedisError) -> RedisReply {
        let context = try connectedContext()
        let raw = PackedCommand(arguments).withArgv { argc, argv, argvlen in
            redisCommandArgv(context, argc, argv, argvlen)
        }
        guard let raw else { throw connectionLost(context) }
        defer { freeReplyObject(raw) }
        return try RedisReply(raw.assumingMemoryBound(to: redisReply.self)).throwingError()
    }

    @discardableResult
    package func send(_ arguments: any RedisArgument...) throws(RedisError) -> RedisReply {
        try send(arguments)
    }

    /// Sends every command at once and reads the replies in one round trip. Error replies come
    /// back in place as `.error`; only a connection failure throws.
    package func pipeline(_ commands: [[any RedisArgument]]) throws(RedisError) -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        let context = try connectedContext()
        for command in commands {
            let rc = PackedCommand(command).withArgv { argc, argv, argvlen in
                redisAppendCommandArgv(context, argc, argv, argvlen)
            }
            guard rc == REDIS_OK else { throw connectionLost(context) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw connectionLost(context) }
            replies.append(RedisReply(raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Runs a Lua script by its SHA1, loading it first when this server does not have it
    /// (a new connection, a restarted server, or after SCRIPT FLUSH).
    @discardableResult
    package func run(
        _ script: RedisScript, keys: [any RedisArgument] = [], arguments: [any RedisArgument] = []
    ) throws(RedisError) -> RedisReply {
        func evalsha(_ sha: String) throws(RedisError) -> RedisReply {
            try send(["EVALSHA", sha, keys.count] + keys + arguments)
        }
        if let sha = scriptSHAs[script.source] {
            do {
                return try evalsha(sha)
            } catch where error.code == "NOSCRIPT" {
                scriptSHAs[script.source] = nil
            }
        }
        return try evalsha(try load(script))
    }

    /// Runs a script once per call in one round trip (EVALSHA pipelined), loading it first
    /// when needed. Error replies come back in place; a NOSCRIPT (the server lost its scripts
    /// meanwhile) reloads the script and runs the pipeline once more.
    package func pipeline(
        _ script: RedisScript, calls: [(keys: [String], arguments: [String])]
    ) throws(RedisError) -> [RedisReply] {
        guard !calls.isEmpty else { return [] }
        for attempt in 0..<2 {
            let sha = try load(script)
            let replies = try pipeline(calls.map { call in
                ["EVALSHA", sha, call.keys.count] + call.keys + call.arguments
            })
            let lost = replies.contains { if case .error(let message) = $0 { message.hasPrefix("NOSCRIPT") } else { false } }
            if !lost || attempt == 1 { return replies }
            scriptSHAs[script.source] = nil
        }
        return []
    }

    /// Plain commands, then one call of `script` each, all in one round trip: a read and what
    /// it needs checked first (a token's look-up) cost one trip. A NOSCRIPT runs the whole
    /// pipeline once more, so the commands must be reads too.
    package func pipeline(
        _ commands: [[any RedisArgument]], then script: RedisScript, calls: [(keys: [String], arguments: [String])]
    ) throws(RedisError) -> (commands: [RedisReply], calls: [RedisReply]) {
        guard !calls.isEmpty else { return (try pipeline(commands), []) }
        for attempt in 0..<2 {
            let sha = try load(script)
            let replies = try pipeline(commands + calls.map { call in
                ["EVALSHA", sha, call.keys.count] + call.keys + call.arguments
            })
            let scriptReplies = Array(replies.dropFirst(commands.count))
            let lost = scriptReplies.contains { if case .error(let message) = $0 { message.hasPrefix("NOSCRIPT") } else { false } }
            if !lost || attempt == 1 { return (Array(replies.prefix(commands.count)), scriptReplies) }
            scriptSHAs[script.source] = nil
        }
        return ([], [])
    }

    /// The script's SHA1 on this server, loading it if this connection has not yet.
    private func load(_ script: RedisScript) throws(RedisError) -> String {
        if let sha = scriptSHAs[script.source] { return sha }
        guard let sha = try send("SCRIPT", "LOAD", script.source).string else {
            throw RedisError(.server, "SCRIPT LOAD returned no SHA1")
        }
        scriptSHAs[script.source] = sha
        return sha
    }

    // MARK: - Connecting

    private func connectedContext() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if let context { return context }
        let context = try open()
        self.context = context
        scriptSHAs = [:]
        do {
            if let password = configuration.password {
                if let username = configuration.username {
                    try send("AUTH", username, password)
                } else {
                    try send("AUTH", password)
                }
            }
            if configuration.database != 0 { try send("SELECT", configuration.database) }
        } catch {
            disconnect()
            throw error
        }
        return context
    }

    private func open() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        let where_ = "\(configuration.host):\(configuration.port)"
        guard let context = redisConnectWithTimeout(
            configuration.host, Int32(configuration.port), timeval(configuration.connectTimeout))
        else { throw RedisError(.connection, "\(where_): out of memory") }
        if context.pointee.err != 0 {
            let message = errorText(context)
            redisFree(context)
            throw RedisError(.connection, "\(where_): \(message)")
        }
        redisSetTimeout(context, timeval(configuration.commandTimeout))
        redisEnableKeepAlive(context)
        return context
    }

    /// Frees a broken context and describes what broke it.
    private func connectionLost(_ context: UnsafeMutablePointer<redisContext>) -> RedisError {
        var message = context.pointee.err == 0 ? "no reply" : errorText(context)
        if message == "Resource temporarily unavailable" {
            message = "no reply within \(configuration.commandTimeout)"
        }
        disconnect()
        return RedisError(.connection, "\(configuration.host):\(configuration.port): \(message)")
    }

    private func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: &context.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

private func timeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
}

extension RedisReply {
    /// Copies a hiredis reply tree into Swift values.
    init(_ reply: UnsafeMutablePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            self = .bulk(r.len == 0 ? Data() : Data(bytes: r.str, count: r.len))
        case REDIS_REPLY_STATUS:
            self = .status(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            self = .array((0..<r.elements).map { RedisReply(r.element[$0]!) })
        default:
            self = .null
        }
    }
}
