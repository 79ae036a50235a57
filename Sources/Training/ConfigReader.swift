import Foundation
import Support
import Yams

// Reading a training config through Yams' Codable decoder without stopping at the first mistake. Each section is a
// Codable struct whose properties hold the defaults; the file's keys are laid over the encoded defaults and decoded.
// When a value does not decode, the problem is recorded (key path, what was expected, what was found, YAML line),
// the default takes its place and decoding runs again, so one run of `dit train` lists every problem. Rules within a
// section (`check`) and across sections skip keys that already have a problem rather than repeat the mistake.

/// A section of the training config: the defaults (`init()`), the keys a file must give, and its rules.
protocol ConfigSection: Codable {
    associatedtype CodingKeys: CodingKey & CaseIterable
    init()
    static var requiredKeys: [CodingKeys] { get }
    /// Defaults that depend on other keys, for those the file leaves out.
    mutating func fillDefaults(_ rules: ConfigRules<CodingKeys>)
    func check(_ rules: ConfigRules<CodingKeys>)
}

extension ConfigSection {
    static var requiredKeys: [CodingKeys] { [] }
    mutating func fillDefaults(_ rules: ConfigRules<CodingKeys>) {}
    func check(_ rules: ConfigRules<CodingKeys>) {}
}

/// A YAML choice (objective, sampler, ...): a value outside the cases is an error that lists them.
public protocol ConfigChoice: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == String {}

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

/// Every problem found in one config file, with its dotted key path and YAML line.
final class ConfigProblems {
    let file: String
    /// The composed YAML, for lines and for what a value looked like.
    let root: Node
    private var entries: [(key: String, message: String, line: Int?)] = []
    /// Paths whose value is a placeholder: rules that read them are skipped.
    private var invalid: Set<String> = []
    /// Required keys an unknown key was suggested for: reporting them missing as well would be noise.
    private var suggested: Set<String> = []

    init(file: String, root: Node) {
        self.file = file
        self.root = root
    }

    var isEmpty: Bool { entries.isEmpty }

    /// The node at a dotted path, or nil.
    func node(_ path: String) -> Node? {
        path.split(separator: ".").reduce(Optional(root)) { node, key in node?.mapping?[String(key)] }
    }

    /// Whether the file gives `path` a value other than null.
    func has(_ path: String) -> Bool { node(path).map { $0.tagName != .null } ?? false }

    /// The line of the key that names `path` (a section's own line for a missing key).
    func line(_ path: String) -> Int? {
        let parts = path.split(separator: ".").map(String.init)
        guard let key = parts.last, let mapping = node(parts.dropLast().joined(separator: "."))?.mapping else { return nil }
        if let keyNode = mapping.first(where: { $0.key.string == key })?.key { return keyNode.mark?.line }
        return parts.count > 1 ? line(parts.dropLast().joined(separator: ".")) : nil
    }

    func report(_ path: String, _ message: String) {
        invalid.insert(path)
        if message.hasPrefix("missing") && suggested.contains(path) { return }
        entries.append((path, message, line(path)))
    }

    /// Whether none of `paths` (nor a section above one) has a problem.
    func valid(_ paths: [String]) -> Bool {
        paths.allSatisfy { path in
            var prefix = Substring(path)
            while true {
                if invalid.contains(String(prefix)) { return false }
                guard let dot = prefix.lastIndex(of: ".") else { return true }
                prefix = prefix[..<dot]
            }
        }
    }

    /// Reports `message` at `path` unless `holds`; skipped when `path` or one of `inputs` already has a problem.
    func require(_ holds: @autoclosure () -> Bool, _ path: String, _ message: @autoclosure () -> String,
                 inputs: [String] = []) {
        if valid([path] + inputs) && !holds() { report(path, message()) }
    }

    /// Reports keys of the mapping at `path` that are not in `known`, with a near spelling or the section where the
    /// key belongs (`schema`: every section's keys).
    func checkKeys(at path: String, known: [String], schema: [(section: String, keys: [String])]) {
        for (keyNode, _) in node(path)?.mapping ?? [:] {
            let key = keyNode.string ?? "\(keyNode)", full = path.isEmpty ? key : path + "." + key
            guard !known.contains(key) else { continue }
            let near = known.map { ($0, editDistance(key, $0)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
            var hint = near.map { " (did you mean \($0)?)" } ?? ""
            if let near { suggested.insert(path.isEmpty ? near : path + "." + near) }
            if near == nil, !path.isEmpty, let home = schema.first(where: { $0.section != path && $0.keys.contains(key) }) {
                hint = " (it belongs in the \(home.section) section)"
            }
            report(full, "unknown key" + hint)
        }
    }

    /// The section at `path` decoded from the file's keys over `S()`'s defaults; a value that does not decode is
    /// reported and replaced by its default.
    func decode<S: ConfigSection>(_ type: S.Type, at path: String) -> S {
        let known = S.CodingKeys.allCases.map(\.stringValue)
        for key in S.requiredKeys where !has(path + "." + key.stringValue) {
            report(path + "." + key.stringValue, node(path + "." + key.stringValue) == nil
                ? "missing (expected a value)" : "expected a value, found null")
        }
        guard let defaults = try? Yams.compose(yaml: YAMLEncoder().encode(S())), case .mapping(var merged) = defaults
        else { return S() }
        for (keyNode, value) in node(path)?.mapping ?? [:] where known.contains(keyNode.string ?? "") {
            merged[keyNode.string!] = value
        }
        let rules = ConfigRules<S.CodingKeys>(problems: self, section: path)
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
                if value.tagName != .null { report(path + "." + key, describe(error, found: value)) }
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

    /// One error for all problems, in file order, or nil.
    var error: ConfigError? {
        func text(_ e: (key: String, message: String, line: Int?)) -> String {
            e.message + (e.line.map { " (line \($0))" } ?? "")
        }
        let sorted = entries.enumerated().sorted { a, b in
            (a.element.line ?? .max, a.offset) < (b.element.line ?? .max, b.offset)
        }.map(\.element)
        guard let first = sorted.first else { return nil }
        if sorted.count == 1 { return ConfigError(file: file, key: first.key.isEmpty ? nil : first.key, text(first)) }
        return ConfigError(file: file, "\(sorted.count) problems:\n" + sorted.map { e in
            "  " + (e.key.isEmpty ? "" : e.key + ": ") + text(e)
        }.joined(separator: "\n"))
    }
}

/// Rules on one decoded section, with keys relative to it; a rule whose key or inputs already have a problem is
/// skipped.
struct ConfigRules<Key: CodingKey> {
    let problems: ConfigProblems
    let section: String

    func path(_ key: Key) -> String { section + "." + key.stringValue }
    func has(_ key: Key) -> Bool { problems.has(path(key)) }
    func valid(_ keys: Key...) -> Bool { problems.valid(keys.map(path)) }
    func fail(_ key: Key, _ message: String) { problems.report(path(key), message) }

    func require(_ holds: @autoclosure () -> Bool, _ key: Key, _ message: @autoclosure () -> String,
                 inputs: [Key] = []) {
        problems.require(holds(), path(key), message(), inputs: inputs.map(path))
    }

    /// Each (value, key) must be at least `min`.
    func atLeast(_ min: Int, _ values: (Int, Key)...) {
        for (value, key) in values { require(value >= min, key, "must be >= \(min), found \(value)") }
    }

    /// A finite number that `rule` accepts.
    func number(_ value: Double?, _ key: Key, _ rule: NumberRule) {
        guard let x = value else { return }
        require(x.isFinite, key, "must be a finite number, found \(x)")
        if let problem = rule.check(x) { require(false, key, "\(problem), found \(x)") }
    }

    /// One of `choices` (a name diffusers spells, such as beta_schedule's).
    func oneOf(_ value: String, _ key: Key, _ choices: [String]) {
        require(choices.contains(value), key, "'\(value)' is not one of: \(choices.joined(separator: ", "))")
    }
}

/// What a number must satisfy: `check` returns nil when the value is acceptable, else what was expected.
struct NumberRule: Sendable {
    let check: @Sendable (Double) -> String?
    static let positive = NumberRule { $0 > 0 ? nil : "must be > 0" }
    static let nonNegative = NumberRule { $0 >= 0 ? nil : "must be >= 0" }
    static let halfOpenUnit = NumberRule { (0..<1).contains($0) ? nil : "must be in [0, 1)" }
    static let closedUnit = NumberRule { (0...1).contains($0) ? nil : "must be in [0, 1]" }
    static func atLeast(_ bound: Double) -> NumberRule { NumberRule { $0 >= bound ? nil : "must be >= \(bound)" } }
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

/// Levenshtein distance, for "did you mean" hints.
private func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)  // distances from a's prefix to each prefix of b
    for (i, x) in a.enumerated() {
        var diagonal = row[0]
        row[0] = i + 1
        for (j, y) in b.enumerated() {
            let above = row[j + 1]
            row[j + 1] = x == y ? diagonal : min(diagonal, above, row[j]) + 1
            diagonal = above
        }
    }
    return row[b.count]
}
