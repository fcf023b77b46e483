import CHiredis
import Foundation

/// One blocking hiredis connection to one server. Not thread-safe: the `RedisConnection` that
/// owns it calls it from one thread at a time.
///
/// It connects on first use (AUTH and SELECT as configured). When it breaks, the call in
/// flight throws a `.connection` error and the next call connects again.
final class RedisNode {
    let configuration: RedisConfiguration
    private var context: UnsafeMutablePointer<redisContext>?
    /// SHA1 of each script already loaded into this server.
    private var scriptSHAs: [RedisScript: String] = [:]
    /// Counts connections made, so an owner can tell a reconnect happened (and check the server again).
    private(set) var connections = 0

    init(_ configuration: RedisConfiguration) {
        self.configuration = configuration
    }

    deinit {
        if let context { redisFree(context) }
    }

    var address: RedisAddress { configuration.address }
    var isConnected: Bool { context != nil }

    func connect() throws(RedisError) {
        _ = try connectedContext()
    }

    /// Closes the connection; the next command opens a new one.
    func disconnect() {
        if let context { redisFree(context) }
        context = nil
    }

    /// Sends one command and waits for its reply. An error reply is thrown.
    @discardableResult
    func send(_ arguments: [any RedisArgument]) throws(RedisError) -> RedisReply {
        let context = try connectedContext()
        let raw = PackedCommand(arguments).withArgv { argc, argv, argvlen in
            redisCommandArgv(context, argc, argv, argvlen)
        }
        guard let raw else { throw connectionLost(context) }
        defer { freeReplyObject(raw) }
        return try RedisReply(raw.assumingMemoryBound(to: redisReply.self)).throwingError()
    }

    /// Sends every command at once and reads the replies in one round trip. Error replies come
    /// back in place as `.error`; only a connection failure throws.
    func pipeline(_ commands: [[any RedisArgument]]) throws(RedisError) -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        try write(commands)
        return try read(commands.count)
    }

    /// Sends commands without waiting for their replies (`read` them after), so several
    /// servers can work on their parts of a pipeline at once.
    func write(_ commands: [[any RedisArgument]]) throws(RedisError) {
        let context = try connectedContext()
        for command in commands {
            let rc = PackedCommand(command).withArgv { argc, argv, argvlen in
                redisAppendCommandArgv(context, argc, argv, argvlen)
            }
            guard rc == REDIS_OK else { throw connectionLost(context) }
        }
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else { throw connectionLost(context) }
        }
    }

    /// The next `count` replies to what was written.
    func read(_ count: Int) throws(RedisError) -> [RedisReply] {
        guard let context else { throw RedisError(.connection, "\(address): not connected") }
        var replies: [RedisReply] = []
        replies.reserveCapacity(count)
        for _ in 0..<count {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw connectionLost(context) }
            replies.append(RedisReply(raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return replies
    }

    /// The connection's socket, while connected: for a subscriber that waits on it with `poll`.
    var fileDescriptor: Int32? { context?.pointee.fd }

    /// Reads what has arrived (call it once `poll` says the socket is readable, so it does not
    /// block) and returns every whole reply received so far; none while one is still partial.
    func readArrived() throws(RedisError) -> [RedisReply] {
        guard let context else { throw RedisError(.connection, "\(address): not connected") }
        guard redisBufferRead(context) == REDIS_OK else { throw connectionLost(context) }
        return try buffered()
    }

    /// The whole replies already read from the socket but not yet taken (a reply that came
    /// right behind the one `read` waited for).
    func buffered() throws(RedisError) -> [RedisReply] {
        guard let context else { throw RedisError(.connection, "\(address): not connected") }
        var replies: [RedisReply] = []
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisReaderGetReply(context.pointee.reader, &raw) == REDIS_OK else { throw connectionLost(context) }
            guard let raw else { return replies }
            replies.append(RedisReply(raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
    }

    /// The script's SHA1 on this server, loading it if this connection has not yet.
    func sha(_ script: RedisScript) throws(RedisError) -> String {
        if let sha = scriptSHAs[script] { return sha }
        guard let sha = try send(["SCRIPT", "LOAD", script.source]).string else {
            throw RedisError(.server, "SCRIPT LOAD returned no SHA1")
        }
        scriptSHAs[script] = sha
        return sha
    }

    /// Whether this connection knows the script's SHA1 (so `sha` asks the server nothing).
    func knowsSHA(_ script: RedisScript) -> Bool {
        scriptSHAs[script] != nil
    }

    /// Forgets that the script is loaded (the server answered NOSCRIPT): the next use loads it.
    func forget(_ script: RedisScript) {
        scriptSHAs[script] = nil
    }

    // MARK: - Connecting

    private func connectedContext() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if let context { return context }
        let context = try open()
        self.context = context
        scriptSHAs = [:]
        connections += 1
        do {
            if let password = configuration.password {
                if let username = configuration.username {
                    try send(["AUTH", username, password])
                } else {
                    try send(["AUTH", password])
                }
            }
            if configuration.database != 0 { try send(["SELECT", configuration.database]) }
        } catch {
            disconnect()
            throw error
        }
        return context
    }

    private func open() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        guard let context = redisConnectWithTimeout(
            configuration.host, Int32(configuration.port), timeval(configuration.connectTimeout))
        else { throw RedisError(.connection, "\(address): out of memory") }
        if context.pointee.err != 0 {
            let message = errorText(context)
            redisFree(context)
            throw RedisError(.connection, "\(address): \(message)")
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
        return RedisError(.connection, "\(address): \(message)")
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
