import Core
import Foundation

/// The scalars of TensorBoard event files (what `TensorBoardWriter` and PyTorch's SummaryWriter write): TFRecord
/// framing around `Event` protocol buffers whose summaries hold `simple_value`s. For `dit plot`'s loss curves.
public enum TensorBoardReader {
    /// tag → (step, value) in file order, from every `events.out.tfevents.*` file in `directory` (sorted by name, so
    /// the pieces of a resumed run follow each other). Records whose checksum fails are skipped.
    public static func scalars(in directory: URL) throws -> [String: [(step: Int, value: Double)]] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix("events.out.tfevents.") }.sorted()
        guard !names.isEmpty else { throw FileError(path: directory.path, "no TensorBoard event files (events.out.tfevents.*) here") }
        var result: [String: [(step: Int, value: Double)]] = [:]
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
            var at = 0
            while at + 12 <= bytes.count {
                let length = bytes[at..<at + 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
                guard length >= 0, at + 12 + length + 4 <= bytes.count else { break }  // a record cut short: the end
                let data = Array(bytes[at + 12..<at + 12 + length])
                let stored = bytes[at + 12 + length..<at + 16 + length].enumerated()
                    .reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
                at += 16 + length
                guard CRC32C.masked(data) == stored else { continue }
                for (tag, step, value) in events(data) { result[tag, default: []].append((step, value)) }
            }
        }
        return result
    }

    /// The (tag, step, simple_value) triples of one Event.
    static func events(_ event: [UInt8]) -> [(String, Int, Double)] {
        var step = 0, values: [(String, Double)] = []
        for (field, payload) in ProtoReader.fields(event) {
            if field == 2, case .varint(let v) = payload { step = Int(Int64(bitPattern: v)) }
            guard field == 5, case .bytes(let summary) = payload else { continue }
            for (f, value) in ProtoReader.fields(summary) where f == 1 {
                guard case .bytes(let v) = value else { continue }
                var tag: String?, number: Double?
                for (g, x) in ProtoReader.fields(v) {
                    if g == 1, case .bytes(let s) = x { tag = String(decoding: s, as: UTF8.self) }
                    if g == 2, case .fixed32(let bits) = x { number = Double(Float(bitPattern: bits)) }
                }
                if let tag, let number { values.append((tag, number)) }
            }
        }
        return values.map { ($0.0, step, $0.1) }
    }
}

/// Protocol-buffer wire decoding, just what event files need; malformed input ends the message.
enum ProtoReader {
    enum Value { case varint(UInt64), fixed64(UInt64), bytes([UInt8]), fixed32(UInt32) }

    static func fields(_ b: [UInt8]) -> [(Int, Value)] {
        var out: [(Int, Value)] = [], i = 0
        func varint() -> UInt64? {
            var v: UInt64 = 0, shift: UInt64 = 0
            while i < b.count, shift < 64 {
                let byte = b[i]
                i += 1
                v |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return v }
                shift += 7
            }
            return nil
        }
        func little(_ n: Int) -> UInt64? {
            guard i + n <= b.count else { return nil }
            defer { i += n }
            return (0..<n).reduce(UInt64(0)) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) }
        }
        while i < b.count, let key = varint() {
            let field = Int(key >> 3)
            switch key & 7 {
            case 0: guard let v = varint() else { return out }; out.append((field, .varint(v)))
            case 1: guard let v = little(8) else { return out }; out.append((field, .fixed64(v)))
            case 2:
                guard let n = varint(), n <= UInt64(b.count - i) else { return out }
                out.append((field, .bytes(Array(b[i..<i + Int(n)]))))
                i += Int(n)
            case 5: guard let v = little(4) else { return out }; out.append((field, .fixed32(UInt32(v))))
            default: return out
            }
        }
        return out
    }
}
