import Core
import Foundation
import Torch

/// A value of tokenizer.json together with its dotted path, so that every parse error names the field. The file is
/// read by Torch's strict reader (not Codable): vocabularies need their keys byte-exact and in file order.
struct JSONField {
    /// nil when the key is absent.
    let value: JSONValue?
    let path: String
    let file: String

    /// Parses a whole document.
    static func document(_ data: Data, file: String) throws -> JSONField {
        do {
            return JSONField(value: try JSONValue.parse([UInt8](data)), path: "", file: file)
        } catch {
            throw TokenizerError.malformedJSON(file: file, reason: "\(error)")
        }
    }

    subscript(key: String) -> JSONField {
        var child: JSONValue?
        if case let .object(members) = value { child = members[key] }
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
        guard case let .integer(i) = value else { throw invalid("an integer") }
        return i
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
        return members.members.map { ($0.key, JSONField(value: $0.value, path: "\(path).\($0.key)", file: file)) }
    }

    /// A `{"type": ...}` component's type name.
    func typeName() throws -> String { try self["type"].string() }

    func unsupported(_ type: String, supported: String) -> TokenizerError {
        .unsupported(file: file, field: path.isEmpty ? "type" : "\(path).type", value: type, supported: supported)
    }

    /// A short rendering of a found value for error messages.
    static func describe(_ value: JSONValue?) -> String { value?.summary ?? "null" }
}
