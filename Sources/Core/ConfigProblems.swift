// DiTKit's one config validator, for the YAML training config and every Hugging Face config.json alike. Rules do not
// stop at the first mistake: each problem is recorded with its key path (and line, where the format has lines), and
// a rule whose key or inputs already have a problem is skipped rather than repeat the mistake or divide by a zero
// that was already reported. One run of `dit train` or `dit forward` lists everything that is wrong.

/// Every problem found in one config file.
public final class ConfigProblems {
    public let file: String
    /// Whether the file gives a key path a value other than null; the line of a key path, where the format has lines.
    private let present: (String) -> Bool
    private let locate: (String) -> Int?
    private var entries: [(key: String, message: String, line: Int?)] = []
    /// Paths whose value is a placeholder: rules that read them are skipped.
    private var invalid: Set<String> = []
    /// Required keys an unknown key was suggested for: reporting them missing as well would be noise.
    private var suggested: Set<String> = []

    public init(file: String, present: @escaping (String) -> Bool = { _ in true },
                line: @escaping (String) -> Int? = { _ in nil }) {
        self.file = file
        self.present = present
        self.locate = line
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// Whether the file gives `path` a value other than null.
    public func has(_ path: String) -> Bool { present(path) }

    public func report(_ path: String, _ message: String) {
        invalid.insert(path)
        if message.hasPrefix("missing") && suggested.contains(path) { return }
        entries.append((path, message, locate(path)))
    }

    /// Whether none of `paths` (nor a section above one) has a problem.
    public func valid(_ paths: [String]) -> Bool {
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
    public func require(_ holds: @autoclosure () -> Bool, _ path: String, _ message: @autoclosure () -> String,
                        inputs: [String] = []) {
        if valid([path] + inputs) && !holds() { report(path, message()) }
    }

    /// Reports the keys found at `path` that are not in `known`, with a near spelling or the section where the key
    /// belongs (`schema`: every section's keys, for a file with sections).
    public func checkKeys(_ found: [String], at path: String, known: [String],
                          schema: [(section: String, keys: [String])] = []) {
        for key in found where !known.contains(key) {
            let full = path.isEmpty ? key : path + "." + key
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
    public var error: ConfigError? {
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

    /// Throws the collected problems as one ConfigError, if there are any.
    public func throwIfAny() throws {
        if let error { throw error }
    }
}

/// Rules on one config object, with keys relative to it (`section` is "" for a file's top level); a rule whose key
/// or inputs already have a problem is skipped.
public struct ConfigRules<Key: CodingKey> {
    public let problems: ConfigProblems
    public let section: String

    public init(problems: ConfigProblems, section: String = "") {
        self.problems = problems
        self.section = section
    }

    public func path(_ key: Key) -> String { path(key.stringValue) }
    /// A path below this section by name, for list elements (`down_block_types[1]`).
    public func path(_ name: String) -> String { section.isEmpty ? name : section + "." + name }
    public func has(_ key: Key) -> Bool { problems.has(path(key)) }
    /// Whether none of `keys` has a problem yet.
    public func valid(_ keys: [Key]) -> Bool { problems.valid(keys.map(path)) }

    public func require(_ holds: @autoclosure () -> Bool, _ key: Key, _ message: @autoclosure () -> String,
                        inputs: [Key] = []) {
        problems.require(holds(), path(key), message(), inputs: inputs.map(path))
    }

    /// Each (value, key) must be at least `min`.
    public func atLeast(_ min: Int, _ values: (Int, Key)...) {
        for (value, key) in values { require(value >= min, key, "must be >= \(min), found \(value)") }
    }

    /// Each (value, key) must lie in `range`: sizes that become allocations are bounded before anything is allocated.
    public func within(_ range: ClosedRange<Int>, _ values: (Int?, Key)...) {
        for case let (value?, key) in values {
            require(range.contains(value), key, "must be in \(range.lowerBound)...\(range.upperBound), found \(value)")
        }
    }

    /// A finite number that `rule` accepts.
    public func number(_ value: Double?, _ key: Key, _ rule: NumberRule) {
        guard let x = value else { return }
        require(x.isFinite, key, "must be a finite number, found \(x)")
        if let problem = rule.check(x) { require(false, key, "\(problem), found \(x)") }
    }

    /// One of `choices` (a name diffusers or transformers spells, such as beta_schedule's).
    public func oneOf(_ value: String, _ key: Key, _ choices: [String]) {
        require(choices.contains(value), key,
                "'\(value)' is not supported (expected one of: \(choices.joined(separator: ", ")))")
    }
}

/// What a number must satisfy: `check` returns nil when the value is acceptable, else what was expected.
public struct NumberRule: Sendable {
    public let check: @Sendable (Double) -> String?
    public init(check: @escaping @Sendable (Double) -> String?) { self.check = check }
    public static let positive = NumberRule { $0 > 0 ? nil : "must be > 0" }
    public static let nonNegative = NumberRule { $0 >= 0 ? nil : "must be >= 0" }
    public static let halfOpenUnit = NumberRule { (0..<1).contains($0) ? nil : "must be in [0, 1)" }
    public static let closedUnit = NumberRule { (0...1).contains($0) ? nil : "must be in [0, 1]" }
    public static let openUnit = NumberRule { $0 > 0 && $0 < 1 ? nil : "must be in (0, 1)" }
    /// Any finite number (finiteness is checked for every rule).
    public static let finite = NumberRule { _ in nil }
    public static func atLeast(_ bound: Double) -> NumberRule { NumberRule { $0 >= bound ? nil : "must be >= \(bound)" } }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
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
