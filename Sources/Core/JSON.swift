import Foundation

// DiTKit's one hand-written JSON reader, for what Codable cannot do: safetensors headers need integers apart from
// 1.0 or 1e2 and duplicate keys refused (a dictionary silently collapses them); tokenizer.json needs its keys in
// file order and byte-exact (Swift's String == merges "é" with "e" + U+0301, two tokens of a vocabulary).
// Config files (config.json, scheduler_config.json) go through Codable (HFConfig.swift) on top of it.

/// A JSON value; integers are kept apart from other numbers so that shapes and offsets can demand them.
public enum JSONValue: Equatable, Sendable {
    case object(JSONObject)
    case array([JSONValue])
    case string(String)
    case integer(Int)
    case number(String)  // a fraction, an exponent, or an integer beyond Int: kept as written, for messages
    case bool(Bool)
    case null

    /// What a message shows for a value of the wrong kind.
    public var summary: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string(let s): "the string \"\(s.count > 40 ? String(s.prefix(40)) + "..." : s)\""
        case .integer(let i): "the integer \(i)"
        case .number(let text): "the number \(text)"
        case .bool(let b): "\(b)"
        case .null: "null"
        }
    }
}

public struct JSONSyntaxError: Error, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// The members of a JSON object in file order. Keys compare byte for byte, so canonically equivalent spellings stay
/// two keys.
public struct JSONObject: Equatable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var members: [(key: String, value: JSONValue)]

    public init(_ members: [(key: String, value: JSONValue)] = []) { self.members = members }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { members = elements.map { ($0.0, $0.1) } }
    /// The entries of `dictionary`, sorted by key.
    public init(_ dictionary: [String: JSONValue]) {
        members = dictionary.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public subscript(key: String) -> JSONValue? {
        get { members.first { $0.key.utf8.elementsEqual(key.utf8) }?.value }
        set {
            let i = members.firstIndex { $0.key.utf8.elementsEqual(key.utf8) }
            switch (i, newValue) {
            case let (i?, value?): members[i].value = value
            case let (i?, nil): members.remove(at: i)
            case let (nil, value?): members.append((key, value))
            case (nil, nil): break
            }
        }
    }

    public var keys: [String] { members.map(\.key) }
    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> { members.makeIterator() }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.members.count == b.members.count && zip(a.members, b.members).allSatisfy {
            $0.key.utf8.elementsEqual($1.key.utf8) && $0.value == $1.value
        }
    }
}

/// A strict RFC 8259 reader over UTF-8 bytes that the caller has already validated, plus the one extension Python's
/// json module writes: `Infinity`, `-Infinity` and `NaN` (diffusers saves lambda_min_clipped = -inf that way).
struct JSONReader {
    private let bytes: [UInt8]
    private var pos = 0
    private var depth = 0
    /// Bounds recursion so that a header of nested brackets fails cleanly instead of overflowing the stack.
    private static let maxDepth = 64

    static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.value()
        reader.skipWhitespace()
        guard reader.pos == bytes.count else { throw reader.fail("unexpected data after the top-level value") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func fail(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, offset: pos) }
    private var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private mutating func skipWhitespace() {
        while let b = peek, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { pos += 1 }
    }

    private mutating func expect(_ literal: String) throws(JSONSyntaxError) {
        for b in literal.utf8 {
            guard peek == b else { throw fail("invalid literal, expected \(literal)") }
            pos += 1
        }
    }

    private mutating func value() throws(JSONSyntaxError) -> JSONValue {
        guard let b = peek else { throw fail("unexpected end of input") }
        switch b {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "I"): try expect("Infinity"); return .number("Infinity")
        case UInt8(ascii: "N"): try expect("NaN"); return .number("NaN")
        case UInt8(ascii: "-") where pos + 1 < bytes.count && bytes[pos + 1] == UInt8(ascii: "I"):
            try expect("-Infinity")
            return .number("-Infinity")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character '\(Unicode.Scalar(b))'")
        }
    }

    private mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth) levels") }
        pos += 1
        skipWhitespace()
    }

    private mutating func object() throws(JSONSyntaxError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        var members: [(key: String, value: JSONValue)] = []
        var seen = Set<[UInt8]>()
        if peek == UInt8(ascii: "}") { pos += 1; return .object(JSONObject(members)) }
        while true {
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyStart = pos
            let key = try string()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(key)\"") }
            pos += 1
            skipWhitespace()
            let member = try value()
            guard seen.insert(Array(key.utf8)).inserted else {
                throw JSONSyntaxError(message: "duplicate key \"\(key)\"", offset: keyStart)
            }
            members.append((key, member))
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): pos += 1; skipWhitespace()
            case UInt8(ascii: "}"): pos += 1; return .object(JSONObject(members))
            default: throw fail("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func array() throws(JSONSyntaxError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        var elements: [JSONValue] = []
        if peek == UInt8(ascii: "]") { pos += 1; return .array(elements) }
        while true {
            elements.append(try value())
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): pos += 1; skipWhitespace()
            case UInt8(ascii: "]"): pos += 1; return .array(elements)
            default: throw fail("expected ',' or ']' in an array")
            }
        }
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        pos += 1  // opening quote
        var utf8: [UInt8] = []
        while true {
            guard let b = peek else { throw fail("unterminated string") }
            pos += 1
            switch b {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let e = peek else { throw fail("unterminated string") }
                pos += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(e)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"): UTF8.encode(try unicodeEscape(), into: { utf8.append($0) })
                default: pos -= 1; throw fail("invalid escape '\\\(Unicode.Scalar(e))'")
                }
            case 0..<0x20:
                pos -= 1
                throw fail("unescaped control character in a string")
            default:
                utf8.append(b)
            }
        }
    }

    /// The scalar of a \uXXXX escape (after the "\u"), joining a UTF-16 surrogate pair.
    private mutating func unicodeEscape() throws(JSONSyntaxError) -> Unicode.Scalar {
        let first = try hex4()
        var value = first
        if (0xD800..<0xDC00).contains(first) {
            guard peek == UInt8(ascii: "\\"), pos + 1 < bytes.count, bytes[pos + 1] == UInt8(ascii: "u") else {
                throw fail("unpaired UTF-16 surrogate in \\u escape")
            }
            pos += 2
            let second = try hex4()
            guard (0xDC00..<0xE000).contains(second) else { throw fail("unpaired UTF-16 surrogate in \\u escape") }
            value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(value) else { throw fail("unpaired UTF-16 surrogate in \\u escape") }
        return scalar
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let b = peek, let d = Self.hexDigit(b) else { throw fail("invalid \\u escape") }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    private static func hexDigit(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(b - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    private mutating func digits() -> Int {
        let start = pos
        while let b = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) { pos += 1 }
        return pos - start
    }

    private mutating func number() throws(JSONSyntaxError) -> JSONValue {
        let start = pos
        let negative = peek == UInt8(ascii: "-")
        if negative { pos += 1 }
        let intStart = pos
        let intDigits = digits()
        guard intDigits > 0 else { throw fail("invalid number") }
        guard intDigits == 1 || bytes[intStart] != UInt8(ascii: "0") else { throw fail("leading zero in a number") }
        var isInteger = true
        if peek == UInt8(ascii: ".") {
            pos += 1
            guard digits() > 0 else { throw fail("invalid number") }
            isInteger = false
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            pos += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { pos += 1 }
            guard digits() > 0 else { throw fail("invalid number") }
            isInteger = false
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let value = Int(text) { return .integer(value) }
        return .number(text)
    }
}

extension JSONValue {
    /// Parses UTF-8 JSON text, rejecting invalid UTF-8, duplicate keys and trailing content.
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw JSONSyntaxError(message: "the text is not valid UTF-8", offset: 0)
        }
        return try JSONReader.parse(bytes)
    }
}

extension JSONValue {
    /// JSON text with sorted keys and two-space indentation, as Python's json.dumps(indent=2, sort_keys=True)
    /// writes diffusers/transformers config files.
    public func serialized(indent: Int = 2) -> String {
        var out = ""
        write(to: &out, level: 0, indent: indent)
        return out + "\n"
    }

    private func write(to out: inout String, level: Int, indent: Int) {
        let pad = String(repeating: " ", count: (level + 1) * indent), close = String(repeating: " ", count: level * indent)
        switch self {
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{\n"
            for (i, member) in members.members.sorted(by: { $0.key < $1.key }).enumerated() {
                out += pad + JSONValue.quoted(member.key) + ": "
                member.value.write(to: &out, level: level + 1, indent: indent)
                out += i + 1 < members.count ? ",\n" : "\n"
            }
            out += close + "}"
        case .array(let elements):
            if elements.isEmpty { out += "[]"; return }
            out += "[\n"
            for (i, e) in elements.enumerated() {
                out += pad
                e.write(to: &out, level: level + 1, indent: indent)
                out += i + 1 < elements.count ? ",\n" : "\n"
            }
            out += close + "]"
        case .string(let s): out += JSONValue.quoted(s)
        case .integer(let i): out += String(i)
        case .number(let text): out += text
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        }
    }

    /// A JSON string literal with quotes, backslashes and control characters escaped.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
