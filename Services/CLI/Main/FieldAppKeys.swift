import ArgumentParser
import Foundation
import TallyLauncher
import TallyService
import ZeroMQ

/// How the CLI's field-app commands (`send`, `simulate`) reach a front door that takes CURVE:
/// with the keys given, or else with the tools' field key that `tally up` keeps under its data
/// directory; plain text when there are neither (a front door without `--curve-secret-key`).
struct FieldAppKeys: ParsableArguments {
    @Option(help: "The front door's CURVE public key (Z85). Default: the one `tally up` keeps under --data-dir.")
    var serverKey: String?
    @Option(help: "This field app's CURVE secret key (Z85), registered for its org. Default: the tools' key `tally up` keeps under --data-dir. Better as TALLY_FIELD_SECRET_KEY.")
    var fieldSecretKey: String?
    @Option(help: "Where `tally up` keeps its data (and its keys, under keys/).")
    var dataDir = Environment.string("data-dir", default: "data")

    /// The socket options that connect to the front door.
    func socketOptions() throws -> [SocketOption] {
        let serverKey = serverKey ?? Environment.value("server-key")
        let secretKey = fieldSecretKey ?? Environment.value("field-secret-key")
        if serverKey != nil || secretKey != nil {
            guard let serverKey, let secretKey else { throw ValidationError("give both --server-key and --field-secret-key (or neither)") }
            guard let pair = CurveKeyPair(secretKey: secretKey) else {
                throw ValidationError("--field-secret-key: must be a CURVE secret key, 40 characters of Z85")
            }
            return pair.clientOptions(serverKey: serverKey)
        }
        let keys = try StackKeys.load(from: URL(fileURLWithPath: dataDir).appendingPathComponent("keys"))
        return keys.map { $0.field.clientOptions(serverKey: $0.frontDoor.publicKey) } ?? []
    }
}
