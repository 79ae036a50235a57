import Foundation

/// A value of tokenizer.json together with its dotted path, so that every parse error names the field.
struct JSONField {
    /// nil when the key is absent.
    let value: OrderedJSON?
    let path: String
    let file: String

    /// Parses a whole document.
    static func document(_ data: Data, file: String) throws -> JSONField {
        do {
            return JSONField(value: try OrderedJSON.parse(data), path: "", file: file)
        } catch {
            throw TokenizerError.malformedJSON(file: file, reason: "\(error)")
        }
    }

    subscript(key: String) -> JSONField {
        var child: OrderedJSON?
        if case let .object(members) = value {
            // Exact key match; the last duplicate wins, as with serde.
            child = members.last { $0.key.utf8.elementsEqual(key.utf8) }?.value
        }
        return JSONField(value: child, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    /// Absent or JSON null.
    var isNull: Bool {
        if case .null = value { return true }
        return value == nil
    }

    var isObject: Bool {
        if case .object = value { return true }
        return false
    }

    func missing(_ expected: String) -> TokenizerError {
        .missingField(file: file, field: path, expected: expected)
    }

    func invalid(_ expected: String) -> TokenizerError {
        .invalidField(file: file, field: path, expected: expected, found: Self.describe(value))
    }

    func string() throws -> String {
        if isNull { throw missing("a string") }
        guard case let .string(s) = value else { throw invalid("a string") }
        return s
    }

    func optionalString() throws -> String? { isNull ? nil : try string() }

    func bool(default fallback: Bool) throws -> Bool {
        if isNull { return fallback }
        guard case let .bool(b) = value else { throw invalid("true or false") }
        return b
    }

    func optionalBool() throws -> Bool? { isNull ? nil : try bool(default: false) }

    func int() throws -> Int {
        if isNull { throw missing("an integer") }
        guard case let .number(d) = value, d == d.rounded(), abs(d) < 1e15 else { throw invalid("an integer") }
        return Int(d)
    }

    func optionalInt() throws -> Int? { isNull ? nil : try int() }

    func array() throws -> [JSONField] {
        if isNull { throw missing("an array") }
        guard case let .array(items) = value else { throw invalid("an array") }
        return items.enumerated().map { JSONField(value: $1, path: "\(path)[\($0)]", file: file) }
    }

    /// The members of an object, in file order.
    func members() throws -> [(key: String, field: JSONField)] {
        if isNull { throw missing("an object") }
        guard case let .object(members) = value else { throw invalid("an object") }
        return members.map { ($0.key, JSONField(value: $0.value, path: "\(path).\($0.key)", file: file)) }
    }

    /// A `{"type": ...}` component's type name.
    func typeName() throws -> String { try self["type"].string() }

    func unsupported(_ type: String, supported: String) -> TokenizerError {
        .unsupported(file: file, field: path.isEmpty ? "type" : "\(path).type", value: type, supported: supported)
    }

    /// A short rendering of a found value for error messages.
    static func describe(_ value: OrderedJSON?) -> String {
        switch value {
        case nil, .null?: return "null"
        case let .string(s)?: return "the string \"\(s.prefix(40))\""
        case let .bool(b)?: return "\(b)"
        case let .number(d)?: return d == d.rounded() && abs(d) < 1e15 ? "the number \(Int(d))" : "the number \(d)"
        case let .array(items)?: return "an array of \(items.count)"
        case .object?: return "an object"
        }
    }
}
