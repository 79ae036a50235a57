import Foundation
import Support
import Yams

// A generic reader over Yams' node tree: typed values with line numbers, problems collected rather than thrown
// one at a time. TrainConfig's rules (TrainConfigValidation.swift) are written on top of it.

// MARK: - Problems

/// Every problem found in one config file, with its dotted key path and YAML line.
final class ConfigProblems {
    let file: String
    private var entries: [(key: String, message: String, line: Int?)] = []
    /// Paths whose value is a placeholder: rules that read them are skipped.
    private var invalid: Set<String> = []
    /// The line of each key that was read, for rules that report at a key.
    var lines: [String: Int] = [:]

    init(file: String) { self.file = file }

    var isEmpty: Bool { entries.isEmpty }

    func report(_ key: String, _ message: String, line: Int?) {
        entries.append((key, message, line ?? lines[key]))
        invalid.insert(key)
    }

    func markInvalid(_ key: String) { invalid.insert(key) }

    /// Whether none of `keys` (nor a section above one) has a problem.
    func valid(_ keys: [String]) -> Bool {
        keys.allSatisfy { key in
            var path = Substring(key)
            while true {
                if invalid.contains(String(path)) { return false }
                guard let dot = path.lastIndex(of: ".") else { return true }
                path = path[..<dot]
            }
        }
    }

    /// Reports `message` at `key` unless `holds`; skipped when `key` or one of `inputs` already has a problem.
    func require(_ holds: @autoclosure () -> Bool, _ key: String, _ message: @autoclosure () -> String,
                 inputs: [String]) {
        if valid([key] + inputs) && !holds() { report(key, message(), line: nil) }
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

// MARK: - Reading a mapping

/// One mapping of the config (the top level or a section), with typed readers. A reader that finds a problem
/// reports it and returns a placeholder (the default, or a harmless value), so reading goes on.
struct YAMLSection {
    let path: String
    let problems: ConfigProblems
    /// False for an absent optional section, or one whose absence or type was already reported.
    let isPresent: Bool
    private let line: Int?
    private var values: [String: Node] = [:]
    /// Required keys an unknown key was suggested for: reporting them missing as well would be noise.
    private var suggested: Set<String> = []

    /// Reads the mapping `node`, reporting keys not in `keys`.
    init(_ node: Node?, path: String, keys: [String], problems: ConfigProblems) {
        self.path = path
        self.problems = problems
        line = problems.lines[path] ?? node?.mark?.line  // the line naming the section, for "missing" problems
        guard case .mapping(let mapping)? = node else {
            isPresent = false
            let expected = path.isEmpty ? "a mapping of the sections " + keys.joined(separator: ", ")
                : "a mapping with the keys " + keys.joined(separator: ", ")
            problems.report(path, "expected \(expected), found \(node.map(\.summary) ?? "nothing")", line: line)
            return
        }
        isPresent = true
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                problems.report(path, "keys must be plain words, found \(keyNode.summary)", line: keyNode.mark?.line)
                continue
            }
            let key = scalar.string, full = Self.join(path, key)
            if keys.contains(key) {
                values[key] = value
                if let line = keyNode.mark?.line { problems.lines[full] = line }
            } else {
                let hint = Self.hint(for: key, in: path, known: keys)
                if let (suggestion, _) = hint { suggested.insert(suggestion) }
                problems.report(full, "unknown key" + (hint.map { " (\($0.1))" } ?? ""), line: keyNode.mark?.line)
            }
        }
    }

    private init(absent path: String, problems: ConfigProblems) {
        self.path = path
        self.problems = problems
        isPresent = false
        line = nil
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// A near spelling in this mapping, or the section where the key belongs.
    private static func hint(for key: String, in path: String, known: [String]) -> (String, String)? {
        let scored = known.map { ($0, editDistance(key, $0)) }.filter { $0.1 <= 2 }
        if let best = scored.min(by: { $0.1 < $1.1 }) { return (best.0, "did you mean \(best.0)?") }
        if let home = TrainConfig.schema.first(where: { $0.section != path && $0.keys.contains(key) }), !path.isEmpty {
            return (key, "it belongs in the \(home.section) section")
        }
        return nil
    }

    /// The sub-mapping `key`; an absent or null optional section reads as not present.
    func section(_ key: String, keys: [String], required: Bool) -> YAMLSection {
        let full = Self.join(path, key)
        guard isPresent else {
            problems.markInvalid(full)
            return YAMLSection(absent: full, problems: problems)
        }
        guard let node = values[key], node.tagName != .null else {
            if required && !suggested.contains(key) {
                problems.report(full, "missing section (expected a mapping with the keys \(keys.joined(separator: ", ")))",
                                line: nil)
            }
            if required { problems.markInvalid(full) }
            return YAMLSection(absent: full, problems: problems)
        }
        return YAMLSection(node, path: full, keys: keys, problems: problems)
    }

    func fail(_ key: String, _ message: String) {
        problems.report(Self.join(path, key), message, line: values[key]?.mark?.line ?? line)
    }

    func valid(_ keys: String...) -> Bool { problems.valid(keys.map { Self.join(path, $0) }) }

    /// Whether `key` has a non-null value.
    func has(_ key: String) -> Bool { values[key].map { $0.tagName != .null } ?? false }

    /// Same as ConfigProblems.require, with keys relative to this section.
    func require(_ holds: @autoclosure () -> Bool, _ key: String, _ message: @autoclosure () -> String,
                 inputs: [String] = []) {
        problems.require(holds(), Self.join(path, key), message(), inputs: inputs.map { Self.join(path, $0) })
    }

    /// The value of `key`; nil when absent or null, after reporting it when it is required.
    private func value(_ key: String, required: Bool, expected: String) -> Node? {
        guard isPresent else { return nil }
        if let node = values[key], node.tagName != .null { return node }
        if required {
            if let node = values[key] {
                fail(key, "expected \(expected), found \(node.summary)")
            } else if suggested.contains(key) {
                problems.markInvalid(Self.join(path, key))
            } else {
                problems.report(Self.join(path, key), "missing (expected \(expected))", line: line)
            }
        }
        return nil
    }

    /// An integer in min...max; a float with no fraction (1e4) counts.
    func int(_ key: String, default fallback: Int? = nil, min: Int, max: Int = Int(Int32.max)) -> Int {
        let placeholder = fallback ?? Swift.max(min, 1)
        guard let node = value(key, required: fallback == nil, expected: "an integer") else { return placeholder }
        guard let n = node.integer else {
            fail(key, node.tagName == .int ? "\(node.summary) is out of range" : "expected an integer, found \(node.summary)")
            return placeholder
        }
        guard n >= min, n <= max else {
            fail(key, n < min ? "must be >= \(min), found \(n)" : "must be <= \(max), found \(n)")
            return placeholder
        }
        return n
    }

    /// An integer, or nil when absent or null.
    func optionalInt(_ key: String, min: Int) -> Int? {
        has(key) ? int(key, default: min, min: min) : nil
    }

    /// A finite number (an integer counts) that `rule` accepts.
    func double(_ key: String, default fallback: Double? = nil, _ rule: NumberRule) -> Double {
        guard let node = value(key, required: fallback == nil, expected: "a number") else { return fallback ?? 1 }
        return check(key, node, rule) ?? fallback ?? 1
    }

    /// A number, null (→ nil) or absent (→ `fallback`).
    func optionalDouble(_ key: String, default fallback: Double?, _ rule: NumberRule) -> Double? {
        guard let node = values[key], isPresent else { return fallback }
        if node.tagName == .null { return nil }
        return check(key, node, rule) ?? fallback
    }

    private func check(_ key: String, _ node: Node, _ rule: NumberRule, index: Int? = nil) -> Double? {
        let what = index.map { "element \($0) " } ?? ""
        guard let x = node.number else {
            fail(key, "\(what)expected a number, found \(node.summary)")
            return nil
        }
        if let problem = x.isFinite ? rule.check(x) : "must be a finite number" {
            fail(key, "\(what)\(problem), found \(node.scalar?.string ?? "\(x)")")
            return nil
        }
        return x
    }

    /// `count` numbers that `rule` accepts, as a YAML list.
    func numbers(_ key: String, count: Int, default fallback: [Double], _ rule: NumberRule) -> [Double] {
        guard let node = value(key, required: false, expected: "") else { return fallback }
        guard case .sequence(let items) = node, items.count == count else {
            fail(key, "expected a list of \(count) numbers, found \(node.summary)")
            return fallback
        }
        let xs = items.enumerated().map { check(key, $1, rule, index: $0) }
        return xs.contains(nil) ? fallback : xs.compactMap { $0 }
    }

    /// Any scalar's text (a run may be named 2024); lists, mappings and null are errors.
    func string(_ key: String, default fallback: String? = nil) -> String {
        guard let node = value(key, required: fallback == nil, expected: "a string") else { return fallback ?? "" }
        guard case .scalar(let scalar) = node else {
            fail(key, "expected a string, found \(node.summary)")
            return fallback ?? ""
        }
        return scalar.string
    }

    func optionalString(_ key: String) -> String? { has(key) ? string(key, default: "") : nil }

    func strings(_ key: String, default fallback: [String]) -> [String] {
        guard let node = value(key, required: false, expected: "") else { return fallback }
        guard case .sequence(let items) = node else {
            fail(key, "expected a list of strings, found \(node.summary)")
            return fallback
        }
        var result: [String] = []
        for (i, item) in items.enumerated() {
            guard case .scalar(let scalar) = item, item.tagName != .null else {
                fail(key, "element \(i): expected a string, found \(item.summary)")
                return fallback
            }
            result.append(scalar.string)
        }
        return result
    }

    func bool(_ key: String, default fallback: Bool) -> Bool {
        guard let node = value(key, required: false, expected: "") else { return fallback }
        guard node.tagName == .bool, let b = node.bool else {
            fail(key, "expected true or false, found \(node.summary)")
            return fallback
        }
        return b
    }

    /// One of `choices`, or nil when absent or null; a YAML false reads as `falseMeans` when given.
    func optionalChoice(_ key: String, in choices: [String], falseMeans: String? = nil) -> String? {
        guard let node = value(key, required: false, expected: "") else { return nil }
        if let falseMeans, node.tagName == .bool, node.bool == false { return falseMeans }
        guard case .scalar(let scalar) = node, choices.contains(scalar.string) else {
            let found = node.scalar.map { "'\($0.string)'" } ?? node.summary
            fail(key, "\(found) is not one of: \(choices.joined(separator: ", "))")
            return nil
        }
        return scalar.string
    }

    /// One of `choices`; required when `fallback` is nil.
    func choice(_ key: String, in choices: [String], default fallback: String? = nil, falseMeans: String? = nil)
        -> String {
        let placeholder = fallback ?? choices[0]
        if fallback == nil, value(key, required: true, expected: "one of: " + choices.joined(separator: ", ")) == nil {
            return placeholder
        }
        return optionalChoice(key, in: choices, falseMeans: falseMeans) ?? placeholder
    }

    func optionalChoice<E: RawRepresentable & CaseIterable>(_ key: String) -> E? where E.RawValue == String {
        optionalChoice(key, in: E.allCases.map(\.rawValue)).flatMap(E.init(rawValue:))
    }

    func choice<E: RawRepresentable & CaseIterable>(_ key: String, default fallback: E? = nil, falseMeans: E? = nil)
        -> E where E.RawValue == String {
        let raw = choice(key, in: E.allCases.map(\.rawValue), default: fallback?.rawValue,
                         falseMeans: falseMeans?.rawValue)
        return E(rawValue: raw) ?? fallback ?? E.allCases.first!
    }
}

extension Node {
    /// The resolved tag (int, float, bool, null, str, ...): what YAML made of the value.
    fileprivate var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }

    /// How an error names a value: "the string \"32\"", "the integer 5", "a list", ...
    fileprivate var summary: String {
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

    fileprivate var integer: Int? {
        switch tagName {
        case .int: return int
        case .float:
            guard let x = float, x.rounded() == x, abs(x) <= 0x1p53 else { return nil }
            return Int(x)
        default: return nil
        }
    }

    fileprivate var number: Double? {
        switch tagName {
        case .int: return int.map(Double.init)
        case .float: return float
        default: return nil
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
