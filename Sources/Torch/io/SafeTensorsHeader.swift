// The safetensors header in both directions: a small strict JSON reader, the checks that turn its result into
// SafeTensorInfo entries, and the writer. A hand-written reader rather than JSONSerialization because the checks
// need what Foundation blurs: integers apart from 1.0 or 1e2, booleans apart from numbers (Linux boxes both as
// NSNumber), and duplicate keys, which a dictionary silently collapses.

/// The largest header accepted, as in the reference implementation: it bounds what a hostile file makes us allocate.
let safeTensorsMaxHeaderLength = 100_000_000

extension DType {
    /// The dtype's code in a safetensors header.
    var safeTensorsName: String {
        switch self {
        case .float32: "F32"
        case .float64: "F64"
        case .float16: "F16"
        case .bfloat16: "BF16"
        case .int64: "I64"
        case .int32: "I32"
        case .int16: "I16"
        case .int8: "I8"
        case .uint8: "U8"
        case .bool: "BOOL"
        }
    }

    init?(safeTensorsName: String) {
        guard let match = DType.allCases.first(where: { $0.safeTensorsName == safeTensorsName }) else { return nil }
        self = match
    }
}

// MARK: JSON reading

/// A JSON value; integers are kept apart from other numbers so that shapes and offsets can demand them.
private enum JSONValue {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case integer(Int)
    case number(String)  // a fraction, an exponent, or an integer beyond Int: kept as written, for messages
    case bool(Bool)
    case null

    /// What a message shows for a value of the wrong kind.
    var summary: String {
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

private struct JSONSyntaxError: Error {
    let message: String
    let offset: Int
}

/// A strict RFC 8259 reader over UTF-8 bytes that the caller has already validated.
private struct JSONReader {
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
        var members: [String: JSONValue] = [:]
        if peek == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyStart = pos
            let key = try string()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(key)\"") }
            pos += 1
            skipWhitespace()
            let member = try value()
            guard members.updateValue(member, forKey: key) == nil else {
                throw JSONSyntaxError(message: "duplicate key \"\(key)\"", offset: keyStart)
            }
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","): pos += 1; skipWhitespace()
            case UInt8(ascii: "}"): pos += 1; return .object(members)
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

// MARK: Header checks

struct SafeTensorsHeader {
    var tensors: [String: SafeTensorInfo]
    var metadata: [String: String]

    /// Parses `bytes` and checks every entry against the data buffer of `bufferLength` bytes that follows it.
    /// `fail` builds the error (it knows the path).
    init(bytes: [UInt8], bufferLength: Int, fail: (String) -> SafeTensorsError) throws(SafeTensorsError) {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var consumed = 0
        decode: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s): consumed += UTF8.width(s)
            case .emptyInput: break decode
            case .error: throw fail("header is not valid UTF-8 (near byte \(consumed) of the header)")
            }
        }
        let root: JSONValue
        do {
            root = try JSONReader.parse(bytes)
        } catch {
            throw fail("header is not valid JSON: \(error.message) at byte \(error.offset) of the header")
        }
        guard case .object(let entries) = root else {
            throw fail("header must be a JSON object, found \(root.summary)")
        }

        metadata = [:]
        tensors = [:]
        for (name, entry) in entries {
            if name == "__metadata__" {
                guard case .object(let pairs) = entry else {
                    throw fail("\"__metadata__\" must be an object of string values, found \(entry.summary)")
                }
                for (key, value) in pairs {
                    guard case .string(let s) = value else {
                        throw fail("\"__metadata__\" value for key \"\(key)\" must be a string, found \(value.summary)")
                    }
                    metadata[key] = s
                }
            } else {
                tensors[name] = try Self.info(name: name, entry: entry, bufferLength: bufferLength, fail: fail)
            }
        }

        // The entries, ordered by offset, must tile the buffer exactly: no overlap (two tensors aliasing bytes),
        // no gap and no unclaimed tail (bytes no tensor accounts for).
        let ordered = tensors.sorted {
            ($0.value.dataOffsets.lowerBound, $0.value.dataOffsets.upperBound, $0.key)
                < ($1.value.dataOffsets.lowerBound, $1.value.dataOffsets.upperBound, $1.key)
        }
        var cursor = 0
        var previous: String?
        for (name, info) in ordered {
            let begin = info.dataOffsets.lowerBound
            if begin < cursor {
                throw fail("tensor \"\(name)\": data_offsets begin \(begin) overlaps tensor \"\(previous!)\", "
                    + "which ends at offset \(cursor)")
            }
            if begin > cursor {
                let after = previous.map { "tensor \"\($0)\", which ends at offset \(cursor)" } ?? "the buffer start"
                throw fail("tensor \"\(name)\": data_offsets begin \(begin) leaves a gap after \(after)")
            }
            cursor = info.dataOffsets.upperBound
            previous = name
        }
        guard cursor == bufferLength else {
            throw fail("tensors' data_offsets cover \(cursor) bytes but the data buffer holds \(bufferLength)")
        }
    }

    private static func info(name: String, entry: JSONValue, bufferLength: Int, fail: (String) -> SafeTensorsError)
        throws(SafeTensorsError) -> SafeTensorInfo
    {
        let tensor = "tensor \"\(name)\""
        guard case .object(let fields) = entry else {
            throw fail("\(tensor): entry must be an object, found \(entry.summary)")
        }
        guard let dtypeValue = fields["dtype"] else { throw fail("\(tensor): missing \"dtype\"") }
        guard case .string(let dtypeName) = dtypeValue else {
            throw fail("\(tensor): \"dtype\" must be a string, found \(dtypeValue.summary)")
        }
        guard let dtype = DType(safeTensorsName: dtypeName) else {
            let known = DType.allCases.map(\.safeTensorsName).joined(separator: ", ")
            throw fail("\(tensor): unknown dtype \"\(dtypeName)\" (supported: \(known))")
        }

        guard let shapeValue = fields["shape"] else { throw fail("\(tensor): missing \"shape\"") }
        guard case .array(let dims) = shapeValue else {
            throw fail("\(tensor): \"shape\" must be an array of non-negative integers, found \(shapeValue.summary)")
        }
        var shape: [Int] = []
        for (i, d) in dims.enumerated() {
            guard case .integer(let n) = d, n >= 0 else {
                throw fail("\(tensor): \"shape\"[\(i)] must be a non-negative integer, found \(d.summary)")
            }
            shape.append(n)
        }

        guard let offsetsValue = fields["data_offsets"] else { throw fail("\(tensor): missing \"data_offsets\"") }
        guard case .array(let offsets) = offsetsValue, offsets.count == 2,
              case .integer(let begin) = offsets[0], case .integer(let end) = offsets[1], begin >= 0, end >= 0
        else {
            let found = if case .array(let a) = offsetsValue { "[" + a.map(\.summary).joined(separator: ", ") + "]" }
                        else { offsetsValue.summary }
            throw fail("\(tensor): \"data_offsets\" must be two non-negative integers [begin, end], found \(found)")
        }
        guard begin <= end else { throw fail("\(tensor): data_offsets begin \(begin) is after end \(end)") }
        guard end <= bufferLength else {
            throw fail("\(tensor): data_offsets end \(end) is beyond the \(bufferLength)-byte data buffer")
        }

        // Checked products: a hostile shape like [2^40, 2^40] must fail here, not wrap around to a small size.
        var bytes = dtype.elementSize
        for n in shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: n)
            guard !overflow else { throw fail("\(tensor): shape \(shape) overflows the byte count") }
            bytes = product
        }
        guard bytes == end - begin else {
            throw fail("\(tensor): data_offsets span \(end - begin) bytes but shape \(shape) of \(dtypeName) "
                + "needs \(bytes)")
        }
        return SafeTensorInfo(dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }
}

// MARK: Header writing

/// The header JSON for `entries` (in file order), padded with spaces so that the data starts 8-byte aligned.
func encodeSafeTensorsHeader(_ entries: [(name: String, info: SafeTensorInfo)], metadata: [String: String])
    -> [UInt8]
{
    var json = "{"
    var members: [String] = []
    if !metadata.isEmpty {
        let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonQuoted($0.key)):\(jsonQuoted($0.value))" }
        members.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
    }
    for (name, info) in entries {
        let shape = info.shape.map(String.init).joined(separator: ",")
        members.append("\(jsonQuoted(name)):{\"dtype\":\"\(info.dtype.safeTensorsName)\",\"shape\":[\(shape)],"
            + "\"data_offsets\":[\(info.dataOffsets.lowerBound),\(info.dataOffsets.upperBound)]}")
    }
    json += members.joined(separator: ",") + "}"
    var bytes = Array(json.utf8)
    bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8))
    return bytes
}

private func jsonQuoted(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
