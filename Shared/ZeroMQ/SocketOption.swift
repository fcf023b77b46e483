import CZeroMQ
import Foundation

/// A socket option Tally sets, with its value. Times are in milliseconds, as libzmq takes them.
public enum SocketOption: Sendable {
    /// How long unsent messages are kept after close; 0 drops them at once.
    case linger(milliseconds: Int32)
    case sendHighWaterMark(Int32)
    case receiveHighWaterMark(Int32)
    /// The largest inbound message accepted; a peer that sends more is disconnected.
    case maxMessageSize(Int64)
    /// Queue messages only to completed connections.
    case immediate(Bool)
    case routingID(Data)
    case subscribe(Data)
    case unsubscribe(Data)
    /// A ROUTER fails a send to an unknown peer instead of dropping it silently.
    case routerMandatory(Bool)
    case reconnectInterval(milliseconds: Int32)
    case reconnectIntervalMax(milliseconds: Int32)
    /// ZMTP heartbeats: how often to ping, how long to wait for an answer, the TTL asked of the peer.
    case heartbeatInterval(milliseconds: Int32)
    case heartbeatTimeout(milliseconds: Int32)
    case heartbeatTTL(milliseconds: Int32)
    case sendTimeout(milliseconds: Int32)
    case receiveTimeout(milliseconds: Int32)
    /// An XPUB passes every subscription up, not only the first of each topic.
    case xpubVerbose(Bool)
    case curveServer(Bool)
    /// CURVE keys in Z85 (40 characters).
    case curvePublicKey(String)
    case curveSecretKey(String)
    case curveServerKey(String)
    case zapDomain(String)

    var name: String {
        switch self {
        case .linger: "ZMQ_LINGER"
        case .sendHighWaterMark: "ZMQ_SNDHWM"
        case .receiveHighWaterMark: "ZMQ_RCVHWM"
        case .maxMessageSize: "ZMQ_MAXMSGSIZE"
        case .immediate: "ZMQ_IMMEDIATE"
        case .routingID: "ZMQ_ROUTING_ID"
        case .subscribe: "ZMQ_SUBSCRIBE"
        case .unsubscribe: "ZMQ_UNSUBSCRIBE"
        case .routerMandatory: "ZMQ_ROUTER_MANDATORY"
        case .reconnectInterval: "ZMQ_RECONNECT_IVL"
        case .reconnectIntervalMax: "ZMQ_RECONNECT_IVL_MAX"
        case .heartbeatInterval: "ZMQ_HEARTBEAT_IVL"
        case .heartbeatTimeout: "ZMQ_HEARTBEAT_TIMEOUT"
        case .heartbeatTTL: "ZMQ_HEARTBEAT_TTL"
        case .sendTimeout: "ZMQ_SNDTIMEO"
        case .receiveTimeout: "ZMQ_RCVTIMEO"
        case .xpubVerbose: "ZMQ_XPUB_VERBOSE"
        case .curveServer: "ZMQ_CURVE_SERVER"
        case .curvePublicKey: "ZMQ_CURVE_PUBLICKEY"
        case .curveSecretKey: "ZMQ_CURVE_SECRETKEY"
        case .curveServerKey: "ZMQ_CURVE_SERVERKEY"
        case .zapDomain: "ZMQ_ZAP_DOMAIN"
        }
    }

    /// Calls `zmq_setsockopt` with this option's code and value bytes.
    func apply(to handle: UnsafeMutableRawPointer) throws(ZMQError) {
        switch self {
        case .linger(let v): try set(handle, ZMQ_LINGER, int: v)
        case .sendHighWaterMark(let v): try set(handle, ZMQ_SNDHWM, int: v)
        case .receiveHighWaterMark(let v): try set(handle, ZMQ_RCVHWM, int: v)
        case .maxMessageSize(var v):
            try check("setsockopt \(name)") { zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &v, MemoryLayout<Int64>.size) }
        case .immediate(let v): try set(handle, ZMQ_IMMEDIATE, int: v ? 1 : 0)
        case .routingID(let v): try set(handle, ZMQ_ROUTING_ID, bytes: v)
        case .subscribe(let v): try set(handle, ZMQ_SUBSCRIBE, bytes: v)
        case .unsubscribe(let v): try set(handle, ZMQ_UNSUBSCRIBE, bytes: v)
        case .routerMandatory(let v): try set(handle, ZMQ_ROUTER_MANDATORY, int: v ? 1 : 0)
        case .reconnectInterval(let v): try set(handle, ZMQ_RECONNECT_IVL, int: v)
        case .reconnectIntervalMax(let v): try set(handle, ZMQ_RECONNECT_IVL_MAX, int: v)
        case .heartbeatInterval(let v): try set(handle, ZMQ_HEARTBEAT_IVL, int: v)
        case .heartbeatTimeout(let v): try set(handle, ZMQ_HEARTBEAT_TIMEOUT, int: v)
        case .heartbeatTTL(let v): try set(handle, ZMQ_HEARTBEAT_TTL, int: v)
        case .sendTimeout(let v): try set(handle, ZMQ_SNDTIMEO, int: v)
        case .receiveTimeout(let v): try set(handle, ZMQ_RCVTIMEO, int: v)
        case .xpubVerbose(let v): try set(handle, ZMQ_XPUB_VERBOSE, int: v ? 1 : 0)
        case .curveServer(let v): try set(handle, ZMQ_CURVE_SERVER, int: v ? 1 : 0)
        case .curvePublicKey(let v): try set(handle, ZMQ_CURVE_PUBLICKEY, bytes: Data(v.utf8))
        case .curveSecretKey(let v): try set(handle, ZMQ_CURVE_SECRETKEY, bytes: Data(v.utf8))
        case .curveServerKey(let v): try set(handle, ZMQ_CURVE_SERVERKEY, bytes: Data(v.utf8))
        case .zapDomain(let v): try set(handle, ZMQ_ZAP_DOMAIN, bytes: Data(v.utf8))
        }
    }

    private func set(_ handle: UnsafeMutableRawPointer, _ code: Int32, int value: Int32) throws(ZMQError) {
        var value = value
        try check("setsockopt \(name)") { zmq_setsockopt(handle, code, &value, MemoryLayout<Int32>.size) }
    }

    private func set(_ handle: UnsafeMutableRawPointer, _ code: Int32, bytes: Data) throws(ZMQError) {
        try check("setsockopt \(name)") {
            bytes.withUnsafeBytes { zmq_setsockopt(handle, code, $0.baseAddress, $0.count) }
        }
    }
}
