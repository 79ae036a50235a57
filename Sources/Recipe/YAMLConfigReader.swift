import Core
import Foundation
import Models
import Yams

// Reading a training config through Yams' Codable decoder without stopping at the first mistake. Each section is a
// Codable struct whose properties hold the defaults; the file's keys are laid over the encoded defaults and decoded.
// When a value does not decode, the problem is recorded (key path, what was expected, what was found, YAML line),
// the default takes its place and decoding runs again, so one run of `dit train` lists every problem. Rules within a
// section (`check`) and across sections skip keys that already have a problem rather than repeat the mistake.

/// A YAML choice (objective, sampler, ...): a value outside the cases is an error that lists them.
public protocol ConfigChoice: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == String {}

extension PixArtTransformer2DModel.Initialization: ConfigChoice {}

extension ConfigChoice {
    public init(from decoder: Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                "'\(raw)' is not one of: " + Self.allCases.map(\.rawValue).joined(separator: ", ")))
        }
        self = value
    }
}

/// A YAML config being read: its composed node tree (for lines, unknown keys and what a value looked like) and the
/// problems found so far (Core's one validator).
final class YAMLConfigDocument {
    let root: Node
    let problems: ConfigProblems

    init(file: String, root: Node) {
        self.root = root
        problems = ConfigProblems(file: file, present: { path in
            Self.node(path, in: root).map { $0.tagName != .null } ?? false
        }, line: { Self.line($0, in: root) })
    }

    /// The node at a dotted path, or nil.
    func node(_ path: String) -> Node? { Self.node(path, in: root) }

    static func node(_ path: String, in root: Node) -> Node? {
        path.split(separator: ".").reduce(Optional(root)) { node, key in node?.mapping?[String(key)] }
    }

    /// The line of the key that names `path` (a section's own line for a missing key).
    static func line(_ path: String, in root: Node) -> Int? {
        let parts = path.split(separator: ".").map(String.init)
        guard let key = parts.last, let mapping = node(parts.dropLast().joined(separator: "."), in: root)?.mapping
        else { return nil }
        if let keyNode = mapping.first(where: { $0.key.string == key })?.key { return keyNode.mark?.line }
        return parts.count > 1 ? line(parts.dropLast().joined(separator: "."), in: root) : nil
    }

    /// Reports keys of the mapping at `path` that are not in `known` (`schema`: every section's keys, for hints).
    func checkKeys(at path: String, known: [String], schema: [(section: String, keys: [String])]) {
        let found = (node(path)?.mapping ?? [:]).map { $0.key.string ?? "\($0.key)" }
        problems.checkKeys(found, at: path, known: known, schema: schema)
    }

    /// The section at `path` decoded from the file's keys over `S()`'s defaults; a value that does not decode is
    /// reported and replaced by its default.
    func decode<S: ConfigSchema>(_ type: S.Type, at path: String) -> S {
        let known = S.CodingKeys.allCases.map(\.stringValue)
        for key in S.requiredKeys where !problems.has(path + "." + key.stringValue) {
            problems.report(path + "." + key.stringValue, node(path + "." + key.stringValue) == nil
                ? "missing (expected a value)" : "expected a value, found null")
        }
        guard let defaults = try? Yams.compose(yaml: YAMLEncoder().encode(S())), case .mapping(var merged) = defaults
        else { return S() }
        for (keyNode, value) in node(path)?.mapping ?? [:] where known.contains(keyNode.string ?? "") {
            merged[keyNode.string!] = value
        }
        let rules = ConfigRules<S.CodingKeys>(problems: problems, section: path)
        for _ in 0...known.count {  // each round settles one key
            do {
                var section = try YAMLDecoder().decode(S.self, from: .mapping(merged))
                section.fillDefaults(rules)
                section.check(rules)
                return section
            } catch let error as DecodingError {
                let key = error.codingPath.first?.stringValue ?? ""
                guard let value = merged[key] else { break }
                if case .typeMismatch(let type, _) = error, type is Int.Type, error.codingPath.count == 1,
                   value.tagName == .float, let x = value.float, x.rounded() == x, abs(x) <= 0x1p53 {
                    merged[key] = Node(String(Int(x)), Tag(.int))  // 1e4 is a fine step count
                    continue
                }
                // null for a key that cannot be null means "the default"; anything else that does not decode is
                // reported and replaced by the default.
                if value.tagName != .null { problems.report(path + "." + key, describe(error, found: value)) }
                merged[key] = defaults.mapping?[key] ?? Node("~", Tag(.null))
            } catch {
                break
            }
        }
        return S()
    }

    /// "expected an integer, found the string "eight"", "'x0' is not one of: ...", "element 1: ...".
    private func describe(_ error: DecodingError, found value: Node) -> String {
        let index = error.codingPath.dropFirst().first?.intValue
        let item = index.flatMap { value.sequence?[$0] } ?? value
        if case .typeMismatch(let type, _) = error, type is Int.Type, item.tagName == .int {
            return "\(item.summary) is out of range"
        }
        var message = error.problem
        if case .dataCorrupted = error {} else { message += ", found \(item.summary)" }
        return (index.map { "element \($0): " } ?? "") + message
    }
}

extension Node {
    /// The resolved tag (int, float, bool, null, str, ...): what YAML made of the value.
    var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }

    /// How an error names a value: "the string \"32\"", "the integer 5", "a list", ...
    var summary: String {
        switch self {
        case .scalar(let s):
            switch tagName {
            case .null: return "null"
            case .bool: return "the boolean \(s.string)"
            case .int: return "the integer \(s.string)"
            case .float: return "the number \(s.string)"
            default: return "the string \"\(s.string.count > 40 ? s.string.prefix(40) + "…" : s.string)\""
            }
        case .mapping: return "a mapping"
        case .sequence(let items): return "a list of \(items.count) item" + (items.count == 1 ? "" : "s")
        case .alias: return "an alias"
        }
    }
}
