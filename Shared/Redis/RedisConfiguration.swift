import Foundation

/// Where a Redis server listens.
package struct RedisAddress: Sendable, Hashable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, an IPv6 host in brackets.
    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Where and how to reach Redis, read from `--redis-url` in one of three forms (SPEC "Redis
/// deployments"):
///
/// - `redis://[[user]:password@]host[:port][/db]`: one server;
/// - `redis-cluster://[[user]:password@]host[:port][,host[:port]...]`: a Redis Cluster, given
///   some of its nodes;
/// - `redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/<master-name>[/db]`: the
///   master that these Sentinels name. The credentials are the master's; Sentinels are asked
///   without.
package struct RedisConfiguration: Sendable, Equatable {
    /// What kind of deployment the URL names.
    package enum Deployment: Sendable, Equatable {
        /// One server, at `host:port`.
        case server
        /// A Redis Cluster; any of these nodes tells the rest.
        case cluster(seeds: [RedisAddress])
        /// The master that these Sentinels name `master`.
        case sentinel(sentinels: [RedisAddress], master: String)
    }

    package var deployment: Deployment = .server
    /// The server, for `.server`; the first node named, otherwise.
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
        guard let separator = url.range(of: "://") else { throw Self.expected(url) }
        switch url[..<separator.lowerBound].lowercased() {
        case "redis": try self.init(serverURL: url)
        case "redis-cluster": try self.init(deploymentURL: url[separator.upperBound...], cluster: true)
        case "redis-sentinel": try self.init(deploymentURL: url[separator.upperBound...], cluster: false)
        default: throw Self.expected(url)
        }
    }

    private static func expected(_ url: String) -> RedisError {
        RedisError(
            .configuration,
            "redis-url: expected redis://[:password@]host:port[/db], redis-cluster://host:port[,host:port...] "
                + "or redis-sentinel://host:port[,host:port...]/<master-name>[/db], got '\(redactingPassword(url))'")
    }

    private init(serverURL url: String) throws(RedisError) {
        guard let components = URLComponents(string: url) else { throw Self.expected(url) }
        if let host = components.host, !host.isEmpty { self.host = host }
        if let port = components.port { self.port = port }
        if let user = components.user, !user.isEmpty { username = user.removingPercentEncoding }
        password = components.password?.removingPercentEncoding
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty { database = try Self.database(path) }
        guard (1...65535).contains(port) else {
            throw RedisError(.configuration, "redis-url: port \(port) is out of range")
        }
    }

    /// `[[user]:password@]host[:port][,host[:port]...][/path]`, the part after a cluster's or
    /// Sentinel's scheme.
    private init(deploymentURL rest: Substring, cluster: Bool) throws(RedisError) {
        let form = cluster ? "redis-cluster://[[user]:password@]host:port[,host:port...]" : "redis-sentinel://[[user]:password@]host:port[,host:port...]/<master-name>[/db]"
        let defaultPort = cluster ? 6379 : 26379
        let pathStart = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<pathStart]
        let path = rest[pathStart...].split(separator: "/", omittingEmptySubsequences: true)
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = String(userInfo[..<colon]).removingPercentEncoding ?? String(userInfo[..<colon])
                username = user.isEmpty ? nil : user
                let secret = userInfo[userInfo.index(after: colon)...]
                password = String(secret).removingPercentEncoding ?? String(secret)
            } else if !userInfo.isEmpty {
                username = String(userInfo).removingPercentEncoding ?? String(userInfo)
            }
        }
        var addresses: [RedisAddress] = []
        guard !authority.isEmpty else { throw RedisError(.configuration, "redis-url: no host given (expected \(form))") }
        for item in authority.split(separator: ",", omittingEmptySubsequences: false) {
            guard let address = Self.address(item, defaultPort: defaultPort) else {
                throw RedisError(.configuration, "redis-url: '\(item)' is not host:port (expected \(form))")
            }
            guard (1...65535).contains(address.port) else {
                throw RedisError(.configuration, "redis-url: port \(address.port) is out of range")
            }
            addresses.append(address)
        }
        guard !addresses.isEmpty else { throw RedisError(.configuration, "redis-url: no host given (expected \(form))") }
        host = addresses[0].host
        port = addresses[0].port
        if cluster {
            guard path.isEmpty else {
                throw RedisError(.configuration, "redis-url: a Redis Cluster has database 0 only, so the URL takes no path (expected \(form))")
            }
            deployment = .cluster(seeds: addresses)
        } else {
            guard let master = path.first else {
                throw RedisError(.configuration, "redis-url: the master's name is missing (expected \(form))")
            }
            guard path.count <= 2 else {
                throw RedisError(.configuration, "redis-url: the path must be /<master-name>[/db], got '/\(path.joined(separator: "/"))'")
            }
            if path.count == 2 { database = try Self.database(path[1]) }
            deployment = .sentinel(sentinels: addresses, master: String(master).removingPercentEncoding ?? String(master))
        }
    }

    /// `host`, `host:port` or `[v6]:port`; nil when it is none of them.
    private static func address(_ text: Substring, defaultPort: Int) -> RedisAddress? {
        var host: Substring
        var port: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                port = after.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            guard !host.contains(":") else { return nil }
        } else {
            host = text
        }
        guard !host.isEmpty else { return nil }
        guard let port else { return RedisAddress(host: String(host), port: defaultPort) }
        guard let number = Int(port) else { return nil }
        return RedisAddress(host: String(host), port: number)
    }

    private static func database<S: StringProtocol>(_ text: S) throws(RedisError) -> Int {
        guard let database = Int(text), database >= 0 else {
            throw RedisError(.configuration, "redis-url: the database must be a number, got '\(text)'")
        }
        return database
    }

    /// The server (or first node) as an address.
    package var address: RedisAddress { RedisAddress(host: host, port: port) }

    /// The URL that reads back as this configuration: `redis://127.0.0.1:6379` by default.
    package var url: String {
        let user = username?.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed) ?? ""
        let auth = password.map { "\(user):\($0.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? $0)@" } ?? (user.isEmpty ? "" : "\(user)@")
        return spelled(auth: auth)
    }

    /// The URL again, with any password hidden, for logs.
    package var redactedURL: String {
        spelled(auth: password == nil ? "" : "\(username ?? ""):***@", alwaysDatabase: true)
    }

    private func spelled(auth: String, alwaysDatabase: Bool = false) -> String {
        let db = database == 0 && !alwaysDatabase ? "" : "/\(database)"
        switch deployment {
        case .server:
            return "redis://\(auth)\(address)" + db
        case .cluster(let seeds):
            return "redis-cluster://\(auth)" + seeds.map(\.description).joined(separator: ",")
        case .sentinel(let sentinels, let master):
            let name = master.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? master
            return "redis-sentinel://\(auth)" + sentinels.map(\.description).joined(separator: ",") + "/\(name)" + db
        }
    }

    /// This configuration for one node of its deployment: the same credentials and timeouts.
    func node(_ address: RedisAddress) -> RedisConfiguration {
        var node = self
        node.deployment = .server
        node.host = address.host
        node.port = address.port
        return node
    }

    /// This configuration for one of its Sentinels: the same timeouts, no credentials (they
    /// are the master's), database 0.
    func sentinel(_ address: RedisAddress) -> RedisConfiguration {
        var sentinel = node(address)
        sentinel.username = nil
        sentinel.password = nil
        sentinel.database = 0
        return sentinel
    }
}

/// `url` with whatever stands between `:` and `@` of its user part replaced by `***`.
private func redactingPassword(_ url: String) -> String {
    guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].lastIndex(of: "@"),
        let colon = url[scheme.upperBound..<at].firstIndex(of: ":")
    else { return url }
    return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
}
