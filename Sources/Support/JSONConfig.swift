import Foundation
import Torch

/// Typed access to the keys of a JSON object (diffusers' config.json, scheduler_config.json, transformers'
/// config.json), with errors that name the file and the key.
public struct JSONConfig: Sendable {
    public let file: String
    public let values: [String: JSONValue]

    public init(file: String, values: [String: JSONValue]) {
        self.file = file
        self.values = values
    }

    /// Reads and parses `url`, which must hold a JSON object.
    public init(contentsOf url: URL) throws {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, "cannot read the file (missing or unreadable)")
        }
        let root: JSONValue
        do {
            root = try JSONValue.parse([UInt8](data))
        } catch {
            throw ConfigError(file: path, "not valid JSON: \(error)")
        }
        guard case .object(let members) = root else { throw ConfigError(file: path, "expected a JSON object") }
        self.init(file: path, values: members)
    }

    public func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(file: file, key: key, message) }

    public func has(_ key: String) -> Bool { values[key] != nil && values[key] != .null }

    /// An integer; `default` is used when the key is absent (nil default: the key is required).
    public func int(_ key: String, default fallback: Int? = nil) throws -> Int {
        switch values[key] {
        case .integer(let i)?: return i
        case nil: if let fallback { return fallback }; throw fail(key, "missing (expected an integer)")
        case let other?: throw fail(key, "expected an integer, found \(other.summary)")
        }
    }

    /// An integer or null; absent gives `default`.
    public func optionalInt(_ key: String, default fallback: Int? = nil) throws -> Int? {
        switch values[key] {
        case .integer(let i)?: return i
        case .null?: return nil
        case nil: return fallback
        case let other?: throw fail(key, "expected an integer or null, found \(other.summary)")
        }
    }

    public func double(_ key: String, default fallback: Double? = nil) throws -> Double {
        switch values[key] {
        case let v? where v.doubleValue != nil: return v.doubleValue!
        case nil: if let fallback { return fallback }; throw fail(key, "missing (expected a number)")
        case let other?: throw fail(key, "expected a number, found \(other.summary)")
        }
    }

    public func optionalDouble(_ key: String, default fallback: Double? = nil) throws -> Double? {
        switch values[key] {
        case .null?: return nil
        case let v? where v.doubleValue != nil: return v.doubleValue!
        case nil: return fallback
        case let other?: throw fail(key, "expected a number or null, found \(other.summary)")
        }
    }

    public func bool(_ key: String, default fallback: Bool? = nil) throws -> Bool {
        switch values[key] {
        case .bool(let b)?: return b
        case nil: if let fallback { return fallback }; throw fail(key, "missing (expected true or false)")
        case let other?: throw fail(key, "expected true or false, found \(other.summary)")
        }
    }

    public func optionalBool(_ key: String, default fallback: Bool? = nil) throws -> Bool? {
        switch values[key] {
        case .bool(let b)?: return b
        case .null?: return nil
        case nil: return fallback
        case let other?: throw fail(key, "expected true, false or null, found \(other.summary)")
        }
    }

    public func string(_ key: String, default fallback: String? = nil) throws -> String {
        switch values[key] {
        case .string(let s)?: return s
        case nil: if let fallback { return fallback }; throw fail(key, "missing (expected a string)")
        case let other?: throw fail(key, "expected a string, found \(other.summary)")
        }
    }

    public func optionalString(_ key: String, default fallback: String? = nil) throws -> String? {
        switch values[key] {
        case .string(let s)?: return s
        case .null?: return nil
        case nil: return fallback
        case let other?: throw fail(key, "expected a string or null, found \(other.summary)")
        }
    }

    /// A list of integers (e.g. block_out_channels).
    public func ints(_ key: String, default fallback: [Int]? = nil) throws -> [Int] {
        switch values[key] {
        case .array(let items)?:
            return try items.enumerated().map { i, v in
                guard case .integer(let n) = v else { throw fail("\(key)[\(i)]", "expected an integer, found \(v.summary)") }
                return n
            }
        case nil: if let fallback { return fallback }; throw fail(key, "missing (expected a list of integers)")
        case let other?: throw fail(key, "expected a list of integers, found \(other.summary)")
        }
    }

    public func strings(_ key: String, default fallback: [String]? = nil) throws -> [String] {
        switch values[key] {
        case .array(let items)?:
            return try items.enumerated().map { i, v in
                guard case .string(let s) = v else { throw fail("\(key)[\(i)]", "expected a string, found \(v.summary)") }
                return s
            }
        case nil: if let fallback { return fallback }; throw fail(key, "missing (expected a list of strings)")
        case let other?: throw fail(key, "expected a list of strings, found \(other.summary)")
        }
    }

    /// Checks `value` against `allowed`, naming the key and the choices when it is not one of them.
    public func check(_ key: String, _ value: String, in allowed: [String]) throws {
        guard allowed.contains(value) else {
            throw fail(key, "'\(value)' is not supported (expected one of: \(allowed.joined(separator: ", ")))")
        }
    }

    /// Each (key, value) must lie in `range` (sizes and counts read from a model config).
    public func require(_ values: [(String, Int)], in range: ClosedRange<Int>) throws {
        for (key, v) in values where !range.contains(v) {
            throw fail(key, "must be in \(range.lowerBound)...\(range.upperBound), got \(v)")
        }
    }

    public func require(_ condition: Bool, _ key: String, _ message: @autoclosure () -> String) throws {
        if !condition { throw fail(key, message()) }
    }
}
