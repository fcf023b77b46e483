import Foundation
import ZeroMQ

/// A stack on one machine: the ports its services use, how they reach each other and Redis,
/// the command line each service starts with and how to tell it answers. `tally up`, the
/// benchmark and the test fixtures all start their services from one of these.
package struct LocalStack: Sendable {
    /// Where the endpoints that field apps, displays and dashboards use listen.
    package enum Interfaces: Sendable {
        /// Every interface, as `tally up` serves a sales floor (ZeroMQ on `*`, HTTP on the
        /// services' default, 0.0.0.0).
        case all
        /// 127.0.0.1 only: benchmarks and tests.
        case loopback
    }

    package var redisURL: String
    package var interfaces: Interfaces
    package var ingestionPort: Int
    package var workerPort: Int
    package var notifyPort: Int
    package var leaderboardPort: Int
    package var httpPort: Int
    package var displaysPort: Int
    package var tvPort: Int
    /// The directory of per-org rules files; the default rules when nil.
    package var rules: String?
    package var adminToken: String?
    /// Anyone may read boards and streams (`--open-reads` on leaderboard and notification).
    package var openReads = false
    /// Every service's `--log-level`; their own default (info) when nil.
    package var logLevel: String?
    /// With keys, the front door is CURVE and the stack's own sockets take the service key;
    /// the start-up probe speaks to the front door with the tools' field key.
    package var keys: StackKeys?

    /// The SPEC's ports unless told otherwise.
    package init(
        redisURL: String, interfaces: Interfaces,
        ingestionPort: Int = 5555, workerPort: Int = 5556, notifyPort: Int = 5557, leaderboardPort: Int = 5558,
        httpPort: Int = 8080, displaysPort: Int = 5560, tvPort: Int = 8090,
        rules: String? = nil, adminToken: String? = nil, logLevel: String? = nil
    ) {
        self.redisURL = redisURL
        self.interfaces = interfaces
        self.ingestionPort = ingestionPort
        self.workerPort = workerPort
        self.notifyPort = notifyPort
        self.leaderboardPort = leaderboardPort
        self.httpPort = httpPort
        self.displaysPort = displaysPort
        self.tvPort = tvPort
        self.rules = rules
        self.adminToken = adminToken
        self.logLevel = logLevel
    }

    /// On loopback, every port one that is free now: for benchmarks and tests.
    package static func onFreePorts(redisURL: String, rules: String? = nil, logLevel: String? = nil) -> LocalStack {
        LocalStack(
            redisURL: redisURL, interfaces: .loopback,
            ingestionPort: freePort(), workerPort: freePort(), notifyPort: freePort(), leaderboardPort: freePort(),
            httpPort: freePort(), displaysPort: freePort(), tvPort: freePort(), rules: rules, logLevel: logLevel)
    }

    /// Where field apps send events.
    package var ingestionEndpoint: String { "tcp://127.0.0.1:\(ingestionPort)" }
    /// What a field app's socket on this machine needs to reach the front door: CURVE with
    /// the tools' field key when the stack has keys, nothing otherwise.
    package var fieldAppOptions: [SocketOption] {
        keys.map { $0.field.clientOptions(serverKey: $0.frontDoor.publicKey) } ?? []
    }

    /// Where boards and contests are asked for over ZeroMQ.
    package var leaderboardEndpoint: String { "tcp://127.0.0.1:\(leaderboardPort)" }

    /// What every service reads from the environment: how to reach Redis and notification,
    /// the rules, the admin token. Not flags, so that a password in the Redis URL and the token
    /// stay off every command line `ps` shows.
    package var environment: [String: String] {
        var environment = ["TALLY_REDIS_URL": redisURL, "TALLY_NOTIFY": "tcp://127.0.0.1:\(notifyPort)"]
        environment["TALLY_RULES"] = rules
        environment["TALLY_ADMIN_TOKEN"] = adminToken
        environment["TALLY_CURVE_SECRET_KEY"] = keys?.frontDoor.secretKey
        environment["TALLY_SERVICE_SECRET_KEY"] = keys?.service.secretKey
        if openReads { environment["TALLY_OPEN_READS"] = "true" }
        return environment
    }

    /// The command line `service` starts with: where it binds and connects.
    package func arguments(for service: StackService) -> [String] {
        let (zmqHost, httpHost) = interfaces == .all ? ("*", [String]()) : ("127.0.0.1", ["--http-host", "127.0.0.1"])
        var arguments: [String]
        switch service {
        case .notification:
            // Its changes endpoint takes no authentication: local publishers only.
            arguments = ["--changes", "tcp://127.0.0.1:\(notifyPort)", "--displays", "tcp://\(openReads ? zmqHost : "127.0.0.1"):\(displaysPort)"]
                + httpHost + ["--http-port", String(tvPort)]
        case .ingestion:
            arguments = ["--frontend", "tcp://\(zmqHost):\(ingestionPort)", "--backend", "tcp://127.0.0.1:\(workerPort)"]
        case .scoring:
            arguments = ["--ingestion", "tcp://127.0.0.1:\(workerPort)"]
        case .leaderboard:
            arguments = ["--zmq", "tcp://\(zmqHost):\(leaderboardPort)"] + httpHost + ["--http-port", String(httpPort)]
        }
        if let logLevel { arguments += ["--log-level", logLevel] }
        return arguments
    }

    /// What `service` is waiting on, as a log line names it; nil for scoring, which has no
    /// endpoint of its own.
    package func address(of service: StackService) -> String? {
        switch service {
        case .notification: "\(service.product) at http://127.0.0.1:\(tvPort)"
        case .ingestion: "\(service.product) at \(ingestionEndpoint)"
        case .scoring: nil
        case .leaderboard: "\(service.product) at \(leaderboardEndpoint)"
        }
    }

    /// Whether `service` answers: notification serves HTTP, ingestion answers a ping,
    /// leaderboard answers a boards request and serves HTTP. The request carries the admin
    /// token, so that its answer shows Redis is reached; without one, a refusal for want of a
    /// token shows the service is up.
    package func answers(_ service: StackService) -> Bool {
        switch service {
        case .notification:
            isListening(port: tvPort)
        case .ingestion:
            Self.reply(from: ingestionEndpoint, to: #"{"op":"ping"}"#, options: fieldAppOptions)?["op"] as? String == "pong"
        case .scoring:
            true
        case .leaderboard:
            leaderboardAnswers && isListening(port: httpPort)
        }
    }

    private var leaderboardAnswers: Bool {
        var request: [String: String] = ["op": "boards"]
        request["token"] = adminToken
        guard let data = try? JSONSerialization.data(withJSONObject: request),
            let reply = Self.reply(from: leaderboardEndpoint, to: String(decoding: data, as: UTF8.self))
        else { return false }
        return reply["ok"] as? Bool == true || (adminToken == nil && (reply["error"] as? String)?.hasPrefix("token:") == true)
    }

    /// One ZeroMQ request and its JSON reply, nil when none comes within half a second.
    private static func reply(from endpoint: String, to request: String, options: [SocketOption] = []) -> [String: Any]? {
        guard let socket = try? Socket(.req, options: [.linger(milliseconds: 0), .receiveTimeout(milliseconds: 500)] + options),
            (try? socket.connect(endpoint)) != nil,
            (try? socket.send(Data(request.utf8))) == true,
            let frames = try? socket.receive(), let frame = frames.first
        else { return nil }
        return (try? JSONSerialization.jsonObject(with: frame)) as? [String: Any]
    }
}
