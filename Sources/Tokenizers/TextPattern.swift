import Foundation

/// The `pattern` of Split and Replace: `{"String": ...}` is matched literally, `{"Regex": ...}` as a regular
/// expression. Matching works on Unicode scalars, like the Rust library (onig regexes on UTF-8).
struct TextPattern: Sendable {
    enum Kind: Sendable {
        case literal([Unicode.Scalar])
        // ICU (behind NSRegularExpression) and Oniguruma agree on the classes tokenizers use: \s is White_Space,
        // \p{L} and \p{N} are the general categories.
        case regex(NSRegularExpression)
    }
    let kind: Kind

    init(literal: String) {
        kind = .literal(literal.scalarArray)
    }

    init(regex: String) throws {
        kind = .regex(try NSRegularExpression(pattern: regex))
    }

    /// Reads `{"String": "..."}` or `{"Regex": "..."}`.
    init(json: JSONField) throws {
        if let literal = try json["String"].optionalString() {
            self.init(literal: literal)
        } else if let regex = try json["Regex"].optionalString() {
            do {
                try self.init(regex: regex)
            } catch {
                throw json["Regex"].invalid("a regular expression that compiles")
            }
        } else {
            throw json.invalid("{\"String\": ...} or {\"Regex\": ...}")
        }
    }

    /// Non-overlapping matches, leftmost first, as scalar offsets.
    func matches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        switch kind {
        case let .literal(needle):
            guard !needle.isEmpty, needle.count <= text.count else { return [] }
            var result: [Range<Int>] = []
            var i = 0
            while i + needle.count <= text.count {
                if text[i] == needle[0] && text[i..<(i + needle.count)].elementsEqual(needle) {
                    result.append(i..<(i + needle.count))
                    i += needle.count
                } else {
                    i += 1
                }
            }
            return result
        case let .regex(regex):
            let string = String(scalars: text)
            // NSRegularExpression speaks UTF-16 offsets; map them back to scalar offsets.
            var scalarAt = [Int](repeating: 0, count: string.utf16.count + 1)
            var u = 0
            for (index, c) in text.enumerated() {
                let width = c.value > 0xFFFF ? 2 : 1
                for k in 0..<width { scalarAt[u + k] = index }
                u += width
            }
            scalarAt[u] = text.count
            let whole = NSRange(location: 0, length: u)
            return regex.matches(in: string, range: whole).map {
                scalarAt[$0.range.location]..<scalarAt[$0.range.location + $0.range.length]
            }
        }
    }

    /// The text with every match replaced by `content`.
    func replacingMatches(in text: [Unicode.Scalar], with content: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        var last = 0
        for m in matches(in: text) {
            out += text[last..<m.lowerBound]
            out += content
            last = m.upperBound
        }
        out += text[last...]
        return out
    }
}

/// What a split does with the delimiters it finds (tokenizers' SplitDelimiterBehavior).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    init(json: JSONField) throws {
        let name = try json.string()
        // The Python bindings accept lowercase names; files written by them use the capitalized ones.
        guard let behavior = SplitBehavior.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() })
        else {
            throw json.invalid("one of " + SplitBehavior.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self = behavior
    }

    /// Splits `text` given the delimiter ranges, dropping empty pieces.
    func split(_ text: [Unicode.Scalar], delimiters: [Range<Int>], invert: Bool = false) -> [[Unicode.Scalar]] {
        // Cover the text with (range, isDelimiter) spans.
        var spans: [(range: Range<Int>, isDelimiter: Bool)] = []
        var last = 0
        for d in delimiters {
            if last < d.lowerBound { spans.append((last..<d.lowerBound, invert)) }
            spans.append((d, !invert))
            last = d.upperBound
        }
        if last < text.count { spans.append((last..<text.count, invert)) }

        var pieces: [Range<Int>] = []
        switch self {
        case .removed:
            pieces = spans.filter { !$0.isDelimiter }.map(\.range)
        case .isolated:
            pieces = spans.map(\.range)
        case .contiguous:
            var previous = false
            for span in spans {
                if span.isDelimiter == previous, let end = pieces.indices.last {
                    pieces[end] = pieces[end].lowerBound..<span.range.upperBound
                } else {
                    pieces.append(span.range)
                }
                previous = span.isDelimiter
            }
        case .mergedWithPrevious:
            var previous = false
            for span in spans {
                if span.isDelimiter && !previous, let end = pieces.indices.last {
                    pieces[end] = pieces[end].lowerBound..<span.range.upperBound
                } else {
                    pieces.append(span.range)
                }
                previous = span.isDelimiter
            }
        case .mergedWithNext:
            var previous = false
            for span in spans.reversed() {
                if span.isDelimiter && !previous, let end = pieces.indices.last {
                    pieces[end] = span.range.lowerBound..<pieces[end].upperBound
                } else {
                    pieces.append(span.range)
                }
                previous = span.isDelimiter
            }
            pieces.reverse()
        }
        return pieces.filter { !$0.isEmpty }.map { Array(text[$0]) }
    }
}

extension SplitBehavior: CaseIterable {}
