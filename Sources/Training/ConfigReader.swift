import Foundation
import Support
import Yams

// Reading a training config through Yams' Codable decoder without stopping at the first mistake: each section's
// init(from:) reads its keys through a ConfigReader, which reports a problem (key path, what was expected, what was
// found, YAML line) and returns a placeholder, so one run of `dit train` lists every problem. A rule whose inputs
// already have a problem is skipped rather than reporting the same mistake twice.

/// Every problem found in one config file, with its dotted key path and YAML line.
final class ConfigProblems {
    static let userInfoKey = CodingUserInfoKey(rawValue: "ditkit.configProblems")!
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

    /// The line of the key that names `path` (a section's own line for a missing key).
    func line(_ path: String) -> Int? {
        let parts = path.split(separator: ".").map(String.init)
        guard let key = parts.last, let parent = parts.isEmpty ? nil : node(parts.dropLast().joined(separator: ".")),
              let mapping = parent.mapping else { return nil }
        if let keyNode = mapping.first(where: { $0.key.string == key })?.key { return keyNode.mark?.line }
        return parts.count > 1 ? line(parts.dropLast().joined(separator: ".")) : nil
    }

    func report(_ path: String, _ message: String) {
        if message.hasPrefix("missing"), suggested.contains(path) {
            invalid.insert(path)
            return
        }
        entries.append((path, message, line(path)))
        invalid.insert(path)
    }

    func markInvalid(_ path: String) { invalid.insert(path) }

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
        guard let mapping = node(path)?.mapping else { return }
        for (keyNode, _) in mapping {
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

/// What a number must satisfy: `check` returns nil when the value is acceptable, else what was expected.
struct NumberRule: Sendable {
    let check: @Sendable (Double) -> String?
    static let positive = NumberRule { $0 > 0 ? nil : "must be > 0" }
    static let nonNegative = NumberRule { $0 >= 0 ? nil : "must be >= 0" }
    static let halfOpenUnit = NumberRule { (0..<1).contains($0) ? nil : "must be in [0, 1)" }
    static let closedUnit = NumberRule { (0...1).contains($0) ? nil : "must be in [0, 1]" }
    static func atLeast(_ bound: Double) -> NumberRule { NumberRule { $0 >= bound ? nil : "must be >= \(bound)" } }
}

/// Typed reads of one section's keys through Yams' keyed container. A read that finds a problem reports it and
/// returns a placeholder (the default, or a harmless value) so that decoding goes on.
struct ConfigReader<Key: CodingKey> {
    let problems: ConfigProblems
    /// The section's dotted path ("model").
    let section: String
    private let container: KeyedDecodingContainer<Key>

    init(_ decoder: Decoder) throws {
        guard let problems = decoder.userInfo[ConfigProblems.userInfoKey] as? ConfigProblems else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "read TrainConfig with TrainConfig(yaml:source:)"))
        }
        self.problems = problems
        section = decoder.codingPath.map(\.stringValue).joined(separator: ".")
        container = try decoder.container(keyedBy: Key.self)
    }

    func path(_ key: Key) -> String { section + "." + key.stringValue }
    func fail(_ key: Key, _ message: String) { problems.report(path(key), message) }
    func valid(_ keys: Key...) -> Bool { problems.valid(keys.map(path)) }

    /// Same as ConfigProblems.require, with keys of this section.
    func require(_ holds: @autoclosure () -> Bool, _ key: Key, _ message: @autoclosure () -> String,
                 inputs: [Key] = []) {
        problems.require(holds(), path(key), message(), inputs: inputs.map(path))
    }

    /// Whether `key` has a non-null value.
    func has(_ key: Key) -> Bool { container.contains(key) && (try? container.decodeNil(forKey: key)) == false }

    private var found: (Key) -> String { { problems.node(path($0))?.summary ?? "nothing" } }

    /// The decoded value of a present, non-null key; nil after reporting when absent and required.
    private func decoded<T: Decodable>(_ key: Key, required: Bool, expected: String) -> T?? {
        guard has(key) else {
            if required { fail(key, (container.contains(key) ? "expected \(expected), found null" : "missing (expected \(expected))")) }
            return .none
        }
        return .some(try? container.decode(T.self, forKey: key))
    }

    /// An integer in min...max; a float with no fraction (1e4) counts.
    func int(_ key: Key, default fallback: Int? = nil, min: Int, max: Int = Int(Int32.max)) -> Int {
        let placeholder = fallback ?? Swift.max(min, 1)
        guard let value: Int? = decoded(key, required: fallback == nil, expected: "an integer") else { return placeholder }
        let node = problems.node(path(key))
        guard let n = value ?? node?.wholeNumber else {
            fail(key, node?.tagName == .int ? "\(found(key)) is out of range" : "expected an integer, found \(found(key))")
            return placeholder
        }
        guard n >= min, n <= max else {
            fail(key, n < min ? "must be >= \(min), found \(n)" : "must be <= \(max), found \(n)")
            return placeholder
        }
        return n
    }

    /// An integer, or nil when absent or null.
    func optionalInt(_ key: Key, min: Int) -> Int? { has(key) ? int(key, default: min, min: min) : nil }

    /// A finite number (an integer counts) that `rule` accepts.
    func double(_ key: Key, default fallback: Double? = nil, _ rule: NumberRule) -> Double {
        guard let value: Double? = decoded(key, required: fallback == nil, expected: "a number") else { return fallback ?? 1 }
        return check(key, value, rule) ?? fallback ?? 1
    }

    /// A number, null (→ nil) or absent (→ `fallback`).
    func optionalDouble(_ key: Key, default fallback: Double?, _ rule: NumberRule) -> Double? {
        guard container.contains(key) else { return fallback }
        guard let value: Double? = decoded(key, required: false, expected: "") else { return nil }
        return check(key, value, rule) ?? fallback
    }

    private func check(_ key: Key, _ value: Double?, _ rule: NumberRule, element: Int? = nil) -> Double? {
        let what = element.map { "element \($0) " } ?? ""
        let node = element.map { problems.node(path(key))?.sequence?[$0] } ?? problems.node(path(key))
        guard let x = value, node?.isNumber ?? true else {
            fail(key, "\(what)expected a number, found \(node?.summary ?? "nothing")")
            return nil
        }
        if let problem = x.isFinite ? rule.check(x) : "must be a finite number" {
            fail(key, "\(what)\(problem), found \(x)")
            return nil
        }
        return x
    }

    /// `count` numbers that `rule` accepts, as a YAML list.
    func numbers(_ key: Key, count: Int, default fallback: [Double], _ rule: NumberRule) -> [Double] {
        guard let value: [Double]? = decoded(key, required: false, expected: "") else { return fallback }
        guard let xs = value, xs.count == count else {
            fail(key, "expected a list of \(count) numbers, found \(found(key))")
            return fallback
        }
        let checked = xs.enumerated().map { check(key, $1, rule, element: $0) }
        return checked.contains(nil) ? fallback : checked.compactMap { $0 }
    }

    /// Any scalar's text (a run may be named 2024); lists, mappings and null are errors.
    func string(_ key: Key, default fallback: String? = nil) -> String {
        guard let value: String? = decoded(key, required: fallback == nil, expected: "a string") else { return fallback ?? "" }
        guard let s = value else {
            fail(key, "expected a string, found \(found(key))")
            return fallback ?? ""
        }
        return s
    }

    func optionalString(_ key: Key) -> String? { has(key) ? string(key, default: "") : nil }

    func strings(_ key: Key, default fallback: [String]) -> [String] {
        guard let value: [String]? = decoded(key, required: false, expected: "") else { return fallback }
        guard let items = value, problems.node(path(key))?.sequence?.allSatisfy({ $0.scalar != nil && $0.tagName != .null }) == true else {
            fail(key, "expected a list of strings, found \(found(key))")
            return fallback
        }
        return items
    }

    func bool(_ key: Key, default fallback: Bool) -> Bool {
        guard let value: Bool? = decoded(key, required: false, expected: "") else { return fallback }
        guard let b = value, problems.node(path(key))?.tagName == .bool else {
            fail(key, "expected true or false, found \(found(key))")
            return fallback
        }
        return b
    }

    /// One of `E`'s cases, or nil when absent or null; a YAML false reads as `falseMeans` when given.
    func optionalChoice<E: RawRepresentable & CaseIterable>(_ key: Key, falseMeans: E? = nil) -> E?
    where E.RawValue == String {
        guard has(key) else { return nil }
        let node = problems.node(path(key))
        if let falseMeans, node?.tagName == .bool, node?.bool == false { return falseMeans }
        guard let raw = try? container.decode(String.self, forKey: key), node?.scalar != nil,
              let value = E(rawValue: raw) else {
            let shown = node?.scalar.map { "'\($0.string)'" } ?? found(key)
            fail(key, "\(shown) is not one of: \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return value
    }

    /// One of `choices` (a name diffusers spells, such as beta_schedule's), `fallback` when absent or null.
    func choice(_ key: Key, in choices: [String], default fallback: String) -> String {
        guard has(key) else { return fallback }
        guard let value = try? container.decode(String.self, forKey: key), problems.node(path(key))?.scalar != nil,
              choices.contains(value) else {
            let shown = problems.node(path(key))?.scalar.map { "'\($0.string)'" } ?? found(key)
            fail(key, "\(shown) is not one of: \(choices.joined(separator: ", "))")
            return fallback
        }
        return value
    }

    /// One of `E`'s cases; required when `fallback` is nil.
    func choice<E: RawRepresentable & CaseIterable>(_ key: Key, default fallback: E? = nil, falseMeans: E? = nil) -> E
    where E.RawValue == String {
        if fallback == nil && !has(key) {
            fail(key, "missing (expected one of: \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return optionalChoice(key, falseMeans: falseMeans) ?? fallback ?? E.allCases.first!
    }
}

extension Node {
    /// The resolved tag (int, float, bool, null, str, ...): what YAML made of the value.
    var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }

    var isNumber: Bool { tagName == .int || tagName == .float }

    /// A float with no fraction (1e4) as an integer.
    var wholeNumber: Int? {
        guard tagName == .float, let x = float, x.rounded() == x, abs(x) <= 0x1p53 else { return nil }
        return Int(x)
    }

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
