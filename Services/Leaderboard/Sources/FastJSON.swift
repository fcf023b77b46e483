import Foundation
import TallyStore

/// Answers written as JSON by hand. The hot reads (`top`, `around`, `rank`) are most of what
/// the leaderboard serves, and Foundation's `JSONEncoder` was a sixth of its time under load.
package protocol FastJSON {
    /// The object's fields, written into an object that is already open.
    func writeFields(_ writer: inout JSONWriter)
}

extension FastJSON {
    /// The JSON object, with `"ok": true` first when `ok`.
    package func json(ok: Bool = false) -> Data {
        var writer = JSONWriter()
        writer.bytes.append(UInt8(ascii: "{"))
        if ok { writer.key("ok"); writer.raw("true") }
        writeFields(&writer)
        writer.bytes.append(UInt8(ascii: "}"))
        return Data(writer.bytes)
    }
}

/// Appends JSON to a byte buffer: keys, strings (escaped), numbers.
package struct JSONWriter {
    package var bytes: [UInt8] = []
    private var needsComma = false

    package init() { bytes.reserveCapacity(1024) }

    /// `"key":`, with the comma before it when a field came before.
    package mutating func key(_ key: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        string(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma = true
    }

    package mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    package mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings (ids, names, periods) need no escaping: copy them whole.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: text.utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 0x0A: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    package mutating func number(_ value: Int) { raw(String(value)) }

    /// Whole numbers without a fraction, as `JSONEncoder` writes them.
    package mutating func number(_ value: Double) {
        if value == value.rounded(), abs(value) < 1e15 {
            raw(String(Int64(value)))
        } else if value.isFinite {
            raw(String(value))
        } else {
            raw("null")
        }
    }

    /// An array of objects, each written by `body`.
    package mutating func array<T>(_ items: [T], _ body: (inout JSONWriter, T) -> Void) {
        bytes.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "{"))
            needsComma = false
            body(&self, item)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }
}

extension Entry: FastJSON {
    package func writeFields(_ writer: inout JSONWriter) {
        writer.key("rank"); writer.number(rank)
        writer.key("member"); writer.string(member)
        writer.key("name"); writer.string(name)
        writer.key("score"); writer.number(score)
        if let target { writer.key("target"); writer.number(target) }
        if let attainment { writer.key("attainment"); writer.number(attainment) }
    }
}

extension EntryList: FastJSON {
    package func writeFields(_ writer: inout JSONWriter) {
        writer.key("board"); writer.string(board)
        writer.key("period"); writer.string(period)
        writer.key("total"); writer.number(total)
        writer.key("entries"); writer.array(entries) { writer, entry in entry.writeFields(&writer) }
    }
}

extension MemberRank: FastJSON {
    package func writeFields(_ writer: inout JSONWriter) {
        writer.key("board"); writer.string(board)
        writer.key("period"); writer.string(period)
        writer.key("member"); writer.string(member)
        writer.key("rank"); writer.number(rank)
        writer.key("score"); writer.number(score)
        writer.key("total"); writer.number(total)
        if let target { writer.key("target"); writer.number(target) }
        if let attainment { writer.key("attainment"); writer.number(attainment) }
    }
}
