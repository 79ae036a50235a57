import Foundation

/// A config object as one Codable struct: its properties hold the defaults (`init()`), its `CodingKeys` the file's
/// key names, and `check` its rules, reported to Core's one validator so that every problem is found in one pass.
/// The YAML training config's sections and every Hugging Face config.json are read this way.
public protocol ConfigSchema: Codable {
    associatedtype CodingKeys: CodingKey & CaseIterable
    /// The defaults.
    init()
    /// Keys a file must spell out (those that fix a model's shapes), so a truncated file is an error rather than a
    /// silently different model.
    static var requiredKeys: [CodingKeys] { get }
    /// Defaults that depend on other keys, for those the file leaves out.
    mutating func fillDefaults(_ rules: ConfigRules<CodingKeys>)
    /// Rejects values that decode but cannot form what the config describes; every size that becomes an allocation
    /// is bounded here, before anything is allocated.
    func check(_ rules: ConfigRules<CodingKeys>)
}

extension ConfigSchema {
    public static var requiredKeys: [CodingKeys] { [] }
    public mutating func fillDefaults(_ rules: ConfigRules<CodingKeys>) {}
    public func check(_ rules: ConfigRules<CodingKeys>) {}

    /// Runs `check` alone (for a config built in code): throws every problem as one ConfigError naming `file`.
    public func validate(file: String = "config.json") throws {
        let problems = ConfigProblems(file: file)
        check(ConfigRules(problems: problems))
        try problems.throwIfAny()
    }
}

/// A Hugging Face config file: diffusers' config.json and scheduler_config.json, transformers' config.json.
/// Reading lays the file over the encoded defaults, so a key the file leaves out keeps its default and `null` clears
/// an optional; writing encodes every key (null where the default is not nil), as save_pretrained does.
public protocol HFConfig: ConfigSchema {
    /// transformers keeps keys it does not know and writes them back; diffusers drops them.
    static var keepsUnknownKeys: Bool { get }
    /// What the file had beyond `CodingKeys`, when `keepsUnknownKeys`.
    var unknownKeys: JSONObject { get set }
}

extension HFConfig {
    public static var keepsUnknownKeys: Bool { false }
    public var unknownKeys: JSONObject {
        get { [:] }
        set {}
    }

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

    /// A config from the members of a JSON object; `file` names it in errors. Every problem (missing keys, values
    /// of the wrong type, rules) is reported at once.
    public init(_ file: JSONObject, file path: String) throws {
        let keys = CodingKeys.allCases.map(\.stringValue)
        let problems = ConfigProblems(file: path, present: { key in
            if let value = file[key] { value != .null } else { false }
        })
        for key in Self.requiredKeys where file[key.stringValue] == nil {
            problems.report(key.stringValue, "missing (the model's shape depends on it)")
        }
        let defaults = try Self.encode(Self())
        var merged = defaults
        for (key, value) in file where keys.contains(key) { merged[key] = value }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        var decoded: Self?
        for _ in 0...keys.count {  // each round settles one key: reported, and its default put in its place
            do {
                let text = JSONValue.object(merged).nonFiniteNumbers(asStrings: true).serialized()
                decoded = try decoder.decode(Self.self, from: Data(text.utf8))
                break
            } catch let error as DecodingError {
                let described = ConfigError(decoding: error, in: file, path: path)
                problems.report(described.key ?? "", described.message)
                guard let key = error.codingPath.first?.stringValue, merged[key] != defaults[key] else { break }
                merged[key] = defaults[key] ?? .null
            }
        }
        guard var config = decoded else {
            try problems.throwIfAny()
            throw ConfigError(file: path, "does not decode")
        }
        let rules = ConfigRules<CodingKeys>(problems: problems)
        config.fillDefaults(rules)
        config.check(rules)
        try problems.throwIfAny()
        if Self.keepsUnknownKeys {
            config.unknownKeys = JSONObject(file.members.filter { !keys.contains($0.key) })
        }
        self = config
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
    public init(decoding error: DecodingError, in file: JSONObject, path: String) {
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
    public func nonFiniteNumbers(asStrings: Bool) -> JSONValue {
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
