import Foundation

/// A JSON document parsed byte-exactly, objects as ordered member lists. Dictionaries (JSONSerialization's, or
/// Torch's JSONValue) merge keys that Swift considers equal ("é" and "e" + U+0301); a vocabulary must keep such
/// tokens apart.
enum OrderedJSON: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([OrderedJSON])
    case object([(key: String, value: OrderedJSON)])

    /// Parses a complete document; the error message gives the byte offset.
    static func parse(_ data: Data) throws -> OrderedJSON {
        var parser = Parser(bytes: [UInt8](data))
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.position == parser.bytes.count else { throw parser.failure("unexpected text after the document") }
        return value
    }

    struct SyntaxError: Error, CustomStringConvertible {
        let description: String
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        func failure(_ what: String) -> SyntaxError { SyntaxError(description: "\(what) at byte \(position)") }

        mutating func skipSpace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: String, _ value: OrderedJSON) throws -> OrderedJSON {
            let utf8 = Array(literal.utf8)
            guard bytes.count - position >= utf8.count, Array(bytes[position..<(position + utf8.count)]) == utf8 else {
                throw failure("invalid literal")
            }
            position += utf8.count
            return value
        }

        mutating func value(depth: Int) throws -> OrderedJSON {
            guard depth < 512 else { throw failure("nesting too deep") }
            guard position < bytes.count else { throw failure("unexpected end of data") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                var members: [(key: String, value: OrderedJSON)] = []
                skipSpace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                    position += 1
                    return .object(members)
                }
                while true {
                    skipSpace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                        throw failure("expected a key")
                    }
                    let key = try string()
                    skipSpace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                        throw failure("expected ':'")
                    }
                    position += 1
                    skipSpace()
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard position < bytes.count else { throw failure("unterminated object") }
                    position += 1
                    if bytes[position - 1] == UInt8(ascii: "}") { return .object(members) }
                    guard bytes[position - 1] == UInt8(ascii: ",") else {
                        position -= 1
                        throw failure("expected ',' or '}'")
                    }
                }
            case UInt8(ascii: "["):
                position += 1
                var items: [OrderedJSON] = []
                skipSpace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard position < bytes.count else { throw failure("unterminated array") }
                    position += 1
                    if bytes[position - 1] == UInt8(ascii: "]") { return .array(items) }
                    guard bytes[position - 1] == UInt8(ascii: ",") else {
                        position -= 1
                        throw failure("expected ',' or ']'")
                    }
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            default:
                return .number(try number())
            }
        }

        mutating func number() throws -> Double {
            let start = position
            while position < bytes.count, "+-0123456789.eE".utf8.contains(bytes[position]) { position += 1 }
            guard position > start, let value = Double(String(decoding: bytes[start..<position], as: UTF8.self)) else {
                position = start
                throw failure("invalid value")
            }
            return value
        }

        /// A string literal; `position` is at the opening quote.
        mutating func string() throws -> String {
            position += 1
            var start = position
            var decoded: [UInt8] = []
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    defer { position += 1 }
                    if decoded.isEmpty { return String(decoding: bytes[start..<position], as: UTF8.self) }
                    decoded += bytes[start..<position]
                    return String(decoding: decoded, as: UTF8.self)
                }
                if byte < 0x20 { throw failure("control character in a string") }
                if byte != UInt8(ascii: "\\") { position += 1; continue }
                decoded += bytes[start..<position]
                position += 1
                guard position < bytes.count else { break }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), bytes.count - position >= 6,
                       bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                        position += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw failure("invalid surrogate pair") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    // A lone surrogate cannot be UTF-8; it becomes U+FFFD, as in Python's decoder with replace.
                    decoded += Array(String(Unicode.Scalar(code).map(Character.init) ?? "\u{FFFD}").utf8)
                default:
                    position -= 1
                    throw failure("invalid escape")
                }
                start = position
            }
            throw failure("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard bytes.count - position >= 4, let code = UInt32(String(decoding: bytes[position..<(position + 4)],
                                                                         as: UTF8.self), radix: 16) else {
                throw failure("invalid \\u escape")
            }
            position += 4
            return code
        }
    }
}
