import Foundation

/// A value sent as one binary-safe argument of a Redis command.
package protocol RedisArgument: Sendable {
    func appendRedisBytes(to buffer: inout [UInt8])
}

extension String: RedisArgument {
    package func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Substring: RedisArgument {
    package func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Int: RedisArgument {
    package func appendRedisBytes(to buffer: inout [UInt8]) { String(self).appendRedisBytes(to: &buffer) }
}

extension Int64: RedisArgument {
    package func appendRedisBytes(to buffer: inout [UInt8]) { String(self).appendRedisBytes(to: &buffer) }
}

extension Double: RedisArgument {
    /// Swift prints the shortest text that reads back as the same double, which Redis parses.
    package func appendRedisBytes(to buffer: inout [UInt8]) { description.appendRedisBytes(to: &buffer) }
}

extension Data: RedisArgument {
    package func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}

extension Array: RedisArgument where Element == UInt8 {
    package func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}

/// A command's arguments packed into one buffer, as hiredis's argv calls take them.
struct PackedCommand {
    private var bytes: [UInt8] = []
    private var offsets: [Int] = []
    private var lengths: [Int] = []

    init(_ arguments: [any RedisArgument]) {
        precondition(!arguments.isEmpty, "a Redis command needs a name")
        offsets.reserveCapacity(arguments.count)
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            let start = bytes.count
            argument.appendRedisBytes(to: &bytes)
            offsets.append(start)
            lengths.append(bytes.count - start)
        }
        bytes.append(0)  // so the base address exists even when every argument is empty
    }

    /// Calls `body` with argc, argv and argvlen; the pointers live only inside the call.
    func withArgv<R>(
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        bytes.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!)
            var argv: [UnsafePointer<CChar>?] = offsets.map {
                (base + $0).assumingMemoryBound(to: CChar.self)
            }
            return argv.withUnsafeMutableBufferPointer { argvBuffer in
                lengths.withUnsafeBufferPointer { lengthBuffer in
                    body(Int32(offsets.count), argvBuffer.baseAddress!, lengthBuffer.baseAddress!)
                }
            }
        }
    }
}
