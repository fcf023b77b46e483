import Foundation

/// Where and how to reach Redis, read from `redis://[[user]:password@]host[:port][/db]`.
package struct RedisConfiguration: Sendable, Equatable {
    package var host = "127.0.0.1"
    package var port = 6379
    package var username: String?
    package var password: String?
    package var database = 0
    package var connectTimeout: Duration = .seconds(2)
    /// How long one command (or one pipeline's reply) may take before the call fails.
    package var commandTimeout: Duration = .seconds(5)

    package init(host: String = "127.0.0.1", port: Int = 6379, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
    }

    package init(url: String) throws(RedisError) {
        guard let components = URLComponents(string: url), components.scheme == "redis" else {
            throw RedisError(.configuration, "redis-url: expected redis://[:password@]host:port[/db], got '\(url)'")
        }
        if let host = components.host, !host.isEmpty { self.host = host }
        if let port = components.port { self.port = port }
        if let user = components.user, !user.isEmpty { username = user.removingPercentEncoding }
        password = components.password?.removingPercentEncoding
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty {
            guard let database = Int(path), database >= 0 else {
                throw RedisError(.configuration, "redis-url: the database must be a number, got '\(path)'")
            }
            self.database = database
        }
        guard (1...65535).contains(port) else {
            throw RedisError(.configuration, "redis-url: port \(port) is out of range")
        }
    }

    /// The URL that reads back as this configuration: `redis://127.0.0.1:6379` by default.
    package var url: String {
        let user = username?.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed) ?? ""
        let auth = password.map { "\(user):\($0.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? $0)@" } ?? ""
        return "redis://\(auth)\(host):\(port)" + (database == 0 ? "" : "/\(database)")
    }

    /// The URL again, with any password hidden, for logs.
    package var redactedURL: String {
        let auth = password == nil ? "" : "\(username ?? ""):***@"
        return "redis://\(auth)\(host):\(port)/\(database)"
    }
}
