import Foundation
import ServiceLifecycle
import TallyDomain
import ZeroMQ

/// The ZAP domains Tally's CURVE server sockets are checked under.
package enum ZAPDomain {
    /// The worker socket and the changes socket: only the service key's holder.
    package static let service = "tally-service"
    /// The front door: field apps with a registered key.
    package static let field = "tally-field"
}

/// The stack's own key pair (`--service-secret-key`): the worker socket and the changes socket
/// are CURVE servers with it, and admit only peers that present it; workers and publishers
/// connect with it.
package struct ServiceKey: Sendable, Equatable {
    package let pair: CurveKeyPair

    package init(pair: CurveKeyPair) { self.pair = pair }

    /// Options for a server socket of the stack (bind).
    package var serverOptions: [SocketOption] { pair.serverOptions(domain: ZAPDomain.service) }
    /// Options for a socket that connects to one of the stack's server sockets.
    package var clientOptions: [SocketOption] { pair.clientOptions(serverKey: pair.publicKey) }

    /// What a ZAP handler answers a peer of a service socket: in only with the service key.
    package func decide(_ request: ZAPHandler.Request) -> ZAPHandler.Decision {
        request.publicKey == pair.publicKey ? .allow(userID: "service") : .deny(reason: "not the service key")
    }
}

extension ServiceKey {
    /// The ZAP handler of a process that binds a service socket and no other CURVE server: it
    /// admits the service key, and nothing else. Bind it before the socket.
    package func zapHandler() throws -> ZAPHandler {
        try ZAPHandler { request in
            request.domain == ZAPDomain.service ? decide(request) : .deny(reason: "unknown domain")
        }
    }

    /// `--service-secret-key`'s help, the same on every service.
    package static let optionHelp = "The stack's own CURVE secret key (Z85; `tally keys` makes a pair), the same on every service: the worker and changes sockets admit only it. Unset: they listen on loopback only. Better as TALLY_SERVICE_SECRET_KEY, off the command line."
}

extension Check {
    /// `--service-secret-key` as given, or else `TALLY_SERVICE_SECRET_KEY`.
    package static func serviceKey(_ flag: String?) throws(ConfigurationError) -> ServiceKey? {
        try secretKey(flag ?? Environment.value("service-secret-key"), "service-secret-key").map(ServiceKey.init)
    }

    /// A CURVE secret key in Z85, when one is given.
    package static func secretKey(_ value: String?, _ option: String) throws(ConfigurationError) -> CurveKeyPair? {
        guard let value else { return nil }
        guard let pair = CurveKeyPair(secretKey: value) else {
            throw ConfigurationError(option: option, problem: "must be a CURVE secret key, 40 characters of Z85 (`tally keys` makes a pair)")
        }
        return pair
    }

    /// A socket that takes no authentication listens on this machine only: binding `endpoint`
    /// beyond loopback is refused unless `keyOption` is set.
    package static func loopbackOnly(_ endpoint: String, _ option: String, unlessSet keyOption: String, isSet: Bool) throws(ConfigurationError) {
        guard !isSet, !isLoopback(endpoint) else { return }
        throw ConfigurationError(
            option: option,
            problem: "\(endpoint.quoted) listens beyond this machine, and takes no credentials; without --\(keyOption) it may listen on loopback only (tcp://127.0.0.1:port, ipc:// or inproc://)")
    }
}

/// Whether a ZeroMQ endpoint reaches this machine only: `tcp://127.x.x.x`, `tcp://localhost`,
/// `tcp://[::1]`, `ipc://`, `inproc://`.
package func isLoopback(_ endpoint: String) -> Bool {
    if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
    guard endpoint.hasPrefix("tcp://") else { return false }
    var host = endpoint.dropFirst("tcp://".count)
    if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
    return host.hasPrefix("127.") || host == "localhost" || host == "[::1]"
}

/// Keeps a ZAP handler answering for as long as the service group runs.
package struct ZAPHandlerService: Service {
    package let handler: ZAPHandler

    package init(_ handler: ZAPHandler) { self.handler = handler }

    package func run() async throws {
        try? await gracefulShutdown()
        handler.stop()
    }
}
