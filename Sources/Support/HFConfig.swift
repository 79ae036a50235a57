import Foundation
import Torch

/// A Hugging Face config file as one Codable struct: diffusers' config.json and scheduler_config.json, transformers'
/// config.json. The struct is the schema: its properties carry the library's defaults, its `CodingKeys` the file's
/// key names. Reading lays the file over the encoded defaults, so a key the file leaves out keeps its default and
/// `null` clears an optional; writing encodes every key (null where the default is not nil), as save_pretrained does.
public protocol HFConfig: Codable {
    associatedtype CodingKeys: CodingKey & CaseIterable
    /// A config with the library's defaults.
    init()
    /// Keys a file must spell out (those that fix a model's shapes), so a truncated file is an error rather than a
    /// silently different model.
    static var requiredKeys: [CodingKeys] { get }
    /// transformers keeps keys it does not know and writes them back; diffusers drops them.
    static var keepsUnknownKeys: Bool { get }
    /// What the file had beyond `CodingKeys`, when `keepsUnknownKeys`.
    var unknownKeys: JSONObject { get set }
    /// Rejects values that decode but cannot form the model; errors name `file` and the key.
    func validate(file: String) throws
}

extension HFConfig {
    public static var requiredKeys: [CodingKeys] { [] }
    public static var keepsUnknownKeys: Bool { false }
    public var unknownKeys: JSONObject {
        get { [:] }
        set {}
    }
    public func validate(file: String) throws {}

    /// Reads and checks a config file.
    public static func load(_ url: URL) throws -> Self {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ConfigError(file: url.path, "cannot read the file (missing or unreadable)")
        }
        let root: JSONValue
        do {
            root = try JSONValue.parse([UInt8](data))
        } catch {
            throw ConfigError(file: url.path, "not valid JSON: \(error)")
        }
        guard case .object(let object) = root else {
            throw ConfigError(file: url.path, "expected a JSON object, found \(root.summary)")
        }
        return try Self(object, file: url.path)
    }

    /// A config from the members of a JSON object; `file` names it in errors.
    public init(_ file: JSONObject, file path: String) throws {
        let keys = CodingKeys.allCases.map(\.stringValue)
        for key in Self.requiredKeys where file[key.stringValue] == nil {
            throw ConfigError(file: path, key: key.stringValue, "missing (the model's shape depends on it)")
        }
        var merged = try Self.encode(Self())
        for (key, value) in file where keys.contains(key) { merged[key] = value }
        do {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(
                positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
            let text = JSONValue.object(merged).nonFiniteNumbers(asStrings: true).serialized()
            self = try decoder.decode(Self.self, from: Data(text.utf8))
        } catch let error as DecodingError {
            throw ConfigError(decoding: error, in: file, path: path)
        }
        if Self.keepsUnknownKeys {
            unknownKeys = JSONObject(file.members.filter { !keys.contains($0.key) })
        }
        try validate(file: path)
    }

    /// Every key, nil values as null, plus the unknown keys kept from the file.
    public var json: JSONValue {
        var object = (try? encodedObject()) ?? [:]
        for (key, value) in unknownKeys where object[key] == nil { object[key] = value }
        return .object(object)
    }

    /// Writes the config as JSON (sorted keys, two-space indent, as Python's json.dump in save_pretrained).
    public func save(to url: URL) throws { try AtomicFile.write(json.serialized(), to: url) }

    private func encodedObject() throws -> JSONObject {
        var object = try Self.encode(self)
        // The synthesized encoder leaves nil optionals out. Where the default is not nil (PixArt's
        // cross_attention_dim, 1152) the file must say null, or a reader would take the default.
        for (key, _) in try Self.encode(Self()) where object[key] == nil { object[key] = .null }
        return object
    }

    private static func encode(_ config: Self) throws -> JSONObject {
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        guard case .object(let object) = try JSONValue.parse([UInt8](encoder.encode(config))).nonFiniteNumbers(asStrings: false)
        else { return [:] }
        return object
    }
}

extension ConfigError {
    /// A Codable failure as "key: expected an integer, found the string "2"", the value looked up in `file`.
    init(decoding error: DecodingError, in file: JSONObject, path: String) {
        var found: JSONValue? = .object(file)
        for part in error.codingPath {
            if let index = part.intValue {
                if case .array(let items)? = found, items.indices.contains(index) { found = items[index] } else { found = nil }
            } else {
                if case .object(let members)? = found { found = members[part.stringValue] } else { found = nil }
            }
        }
        let key = error.keyPath
        self.init(file: path, key: key.isEmpty ? nil : key,
                  error.problem + (found.map { ", found \($0.summary)" } ?? ""))
    }
}

extension DecodingError {
    /// The path of the value that failed to decode.
    public var codingPath: [any CodingKey] {
        switch self {
        case let .typeMismatch(_, c), let .valueNotFound(_, c), let .dataCorrupted(c): c.codingPath
        case let .keyNotFound(key, c): c.codingPath + [key]
        @unknown default: []
        }
    }

    /// Where in the file, as messages name it: `images[3].file_name` ("" for the top level).
    public var keyPath: String {
        codingPath.reduce(into: "") { key, part in
            if let index = part.intValue { key += "[\(index)]" } else { key += (key.isEmpty ? "" : ".") + part.stringValue }
        }
    }

    /// What was wrong, in a config message's words: "expected an integer", "missing", or the decoder's own.
    public var problem: String {
        switch self {
        case let .typeMismatch(type, _), let .valueNotFound(type, _):
            switch type {
            case is Int.Type, is Int?.Type: "expected an integer"
            case is Double.Type, is Double?.Type: "expected a number"
            case is Bool.Type, is Bool?.Type: "expected true or false"
            case is String.Type, is String?.Type: "expected a string"
            case is any Collection.Type: "expected a list"
            default: "expected a value of type \(type)"
            }
        case .keyNotFound: "missing"
        case let .dataCorrupted(context): context.debugDescription
        @unknown default: "\(self)"
        }
    }
}

/// Checks on config values, each error naming the file and the key.
public struct ConfigChecks {
    public let file: String
    public init(file: String) { self.file = file }

    public func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(file: file, key: key, message) }

    public func require(_ condition: Bool, _ key: String, _ message: @autoclosure () -> String) throws {
        if !condition { throw fail(key, message()) }
    }

    /// `value` must be one of `allowed`.
    public func oneOf(_ key: String, _ value: String, _ allowed: [String]) throws {
        try require(allowed.contains(value), key,
                    "'\(value)' is not supported (expected one of: \(allowed.joined(separator: ", ")))")
    }

    /// Each (key, value) must lie in `range` (sizes and counts read from a model config).
    public func sizes(_ values: [(String, Int)], in range: ClosedRange<Int>) throws {
        for (key, v) in values {
            try require(range.contains(v), key, "must be in \(range.lowerBound)...\(range.upperBound), got \(v)")
        }
    }
}

/// The keys of a config file that name what it configures: diffusers' `_class_name`, transformers' `model_type`
/// and `architectures`.
public struct ConfigClass {
    public let className: String?, modelType: String?, architectures: [String]

    public static func load(_ url: URL) throws -> ConfigClass {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ConfigError(file: url.path, "cannot read the file (missing or unreadable)")
        }
        // The strict reader: it also takes the bare -Infinity that Python writes into scheduler configs.
        guard case .object(let o)? = try? JSONValue.parse([UInt8](data)) else {
            throw ConfigError(file: url.path, "not a JSON object")
        }
        func string(_ key: String) -> String? { if case .string(let s)? = o[key] { s } else { nil } }
        let architectures: [String] = if case .array(let items)? = o["architectures"] {
            items.compactMap { if case .string(let s) = $0 { s } else { nil } }
        } else { [] }
        return ConfigClass(className: string("_class_name"), modelType: string("model_type"), architectures: architectures)
    }
}

extension JSONValue {
    /// Python writes ±inf and NaN bare (`-Infinity`); JSONDecoder/JSONEncoder take them as strings. Converts between
    /// the two spellings everywhere in the value.
    func nonFiniteNumbers(asStrings: Bool) -> JSONValue {
        let names: Set = ["Infinity", "-Infinity", "NaN"]
        switch self {
        case .number(let text) where asStrings && names.contains(text): return .string(text)
        case .string(let text) where !asStrings && names.contains(text): return .number(text)
        case .array(let items): return .array(items.map { $0.nonFiniteNumbers(asStrings: asStrings) })
        case .object(let o): return .object(JSONObject(o.members.map { ($0.key, $0.value.nonFiniteNumbers(asStrings: asStrings)) }))
        default: return self
        }
    }
}
