import CZeroMQ
import Foundation

/// A CURVE key pair in Z85 text, 40 characters each.
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    /// Generates a new key pair (libzmq must be built with libsodium, as Debian's is).
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        try check("zmq_curve_keypair") { zmq_curve_keypair(&publicKey, &secretKey) }
        return CurveKeyPair(publicKey: string(publicKey), secretKey: string(secretKey))
    }

    /// The key pair whose secret key is `secretKey` (Z85): what a service given only its
    /// secret key announces as its public key. nil when `secretKey` is not 40 characters of Z85.
    public init?(secretKey: String) {
        guard secretKey.utf8.count == 40 else { return nil }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else { return nil }
        self.init(publicKey: Self.string(publicKey), secretKey: secretKey)
    }

    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A 32-byte key (as ZAP hands it over) in Z85.
    public static func z85(_ key: Data) -> String? {
        guard key.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        let encoded = key.withUnsafeBytes { zmq_z85_encode(&text, $0.bindMemory(to: UInt8.self).baseAddress, 32) }
        return encoded == nil ? nil : string(text)
    }

    /// Options that make a socket a CURVE server with this key pair, its peers checked by the
    /// process's ZAP handler under `domain`.
    public func serverOptions(domain: String) -> [SocketOption] {
        [.curveServer(true), .curveSecretKey(secretKey), .zapDomain(domain)]
    }

    /// Options that make a socket a CURVE client with this key pair, of the server whose
    /// public key is `serverKey`.
    public func clientOptions(serverKey: String) -> [SocketOption] {
        [.curveServerKey(serverKey), .curvePublicKey(publicKey), .curveSecretKey(secretKey)]
    }

    private static func string(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
