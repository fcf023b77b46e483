/// Redis Cluster's slot of a key: CRC16 (XMODEM: polynomial 0x1021, initial value 0) of its
/// hash tag, modulo 16384. The hash tag is what stands between the first `{` and the first `}`
/// after it, when that is not empty; otherwise the whole key.
package enum HashSlot {
    package static let count = 16_384

    package static func of(_ key: any RedisArgument) -> Int {
        var bytes: [UInt8] = []
        key.appendRedisBytes(to: &bytes)
        return of(bytes: bytes)
    }

    package static func of(bytes key: [UInt8]) -> Int {
        Int(crc16(hashTag(key)) & 0x3FFF)
    }

    /// The part of `key` that picks its slot.
    static func hashTag(_ key: [UInt8]) -> ArraySlice<UInt8> {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        else { return key[...] }
        return key[(open + 1)..<close]
    }

    /// CRC16-XMODEM, one byte at a time from a 256-entry table.
    package static func crc16(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}

/// Where a command's first key is among its arguments, for routing it to its slot's node.
enum CommandKeys {
    /// The first key of `arguments` (a command and its arguments), or nil for a command that
    /// names no key (PING, INFO, a script with no keys, ...).
    static func firstKey(_ arguments: [any RedisArgument]) -> (any RedisArgument)? {
        guard let name = arguments.first.map(upperName) else { return nil }
        switch name {
        case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
            guard arguments.count > 3, let count = Int(text(arguments[2])), count > 0 else { return nil }
            return arguments[3]
        case "OBJECT", "MEMORY", "XINFO", "XGROUP":
            return arguments.count > 2 ? arguments[2] : nil
        case "MIGRATE":
            return arguments.count > 3 ? arguments[3] : nil
        default:
            return keyless.contains(name) || arguments.count < 2 ? nil : arguments[1]
        }
    }

    /// Commands that take no key (the ones Tally and its tests send, and their kin).
    static let keyless: Set<String> = [
        "ACL", "ASKING", "AUTH", "BGREWRITEAOF", "BGSAVE", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DBSIZE", "DEBUG",
        "DISCARD", "ECHO", "EXEC", "FAILOVER", "FLUSHALL", "FLUSHDB", "FUNCTION", "HELLO", "INFO", "KEYS", "LASTSAVE",
        "LATENCY", "LOLWUT", "MODULE", "MONITOR", "MULTI", "PING", "PSUBSCRIBE", "PUBLISH", "PUBSUB", "PUNSUBSCRIBE",
        "QUIT", "RANDOMKEY", "READONLY", "READWRITE", "REPLICAOF", "RESET", "ROLE", "SAVE", "SCAN", "SCRIPT", "SELECT",
        "SENTINEL", "SHUTDOWN", "SLAVEOF", "SLOWLOG", "SUBSCRIBE", "SWAPDB", "TIME", "UNSUBSCRIBE", "UNWATCH", "WAIT",
    ]

    /// Commands whose answer is about one server's keys, so a cluster asks every master: their
    /// replies are added up (DBSIZE), joined (KEYS) or must all be OK.
    static let everyMaster: Set<String> = ["DBSIZE", "FLUSHALL", "FLUSHDB", "KEYS", "SCRIPT"]

    static func upperName(_ argument: any RedisArgument) -> String { text(argument).uppercased() }

    private static func text(_ argument: any RedisArgument) -> String {
        var bytes: [UInt8] = []
        argument.appendRedisBytes(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
