import Foundation

/// One entry of tokenizer.json's `added_tokens` (special tokens such as `[CLS]` and tokens added after training).
struct AddedToken: Sendable {
    let id: Int
    let content: String
    /// Only matches when not inside a word.
    var singleWord = false
    /// Swallows the whitespace on its left / right.
    var lstrip = false
    var rstrip = false
    /// Matched in the normalized text (otherwise in the raw text, before normalization).
    var normalized = false
    /// Dropped by `decode(skipSpecialTokens: true)`.
    var special = true

    init(id: Int, content: String, special: Bool = true, normalized: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.normalized = normalized
    }

    init(json: JSONField) throws {
        id = try json["id"].int()
        content = try json["content"].string()
        singleWord = try json["single_word"].bool(default: false)
        lstrip = try json["lstrip"].bool(default: false)
        rstrip = try json["rstrip"].bool(default: false)
        special = try json["special"].bool(default: false)
        normalized = try json["normalized"].bool(default: !special)
    }
}

/// A stretch of input: text still to tokenize, or an added token already recognized.
enum InputPiece {
    case text([Unicode.Scalar])
    case token(Token)
}

/// Finds added tokens in the input before the normalizer and the model see it, so that `[MASK]` or
/// `<|endoftext|>` typed in a caption become their own ids. Matching is leftmost-longest, like the Rust library.
struct AddedVocabulary: Sendable {
    let tokens: [AddedToken]
    let specialIds: Set<Int>
    /// The spelling decoding uses for normalized tokens: the normalized one, which is what the decoder can invert.
    let normalizedContent: [Int: String]
    private let rawMatcher: Matcher
    private let normalizedMatcher: Matcher

    init(tokens: [AddedToken], normalizer: Normalizer?) {
        self.tokens = tokens
        specialIds = Set(tokens.filter(\.special).map(\.id))
        rawMatcher = Matcher(tokens.filter { !$0.normalized }.map { ($0.content.scalarArray, $0) })
        // Normalized tokens are looked for in their normalized spelling.
        let normalized = tokens.filter(\.normalized).map { token in
            (normalizer?.normalize(token.content.scalarArray) ?? token.content.scalarArray, token)
        }
        normalizedMatcher = Matcher(normalized)
        normalizedContent = Dictionary(normalized.map { ($1.id, String(scalars: $0)) }, uniquingKeysWith: { a, _ in a })
    }

    /// Splits the raw input on non-normalized tokens.
    func splitRaw(_ text: [Unicode.Scalar]) -> [InputPiece] { rawMatcher.split(text) }

    /// Splits normalized text on normalized tokens.
    func splitNormalized(_ text: [Unicode.Scalar]) -> [InputPiece] { normalizedMatcher.split(text) }

    private struct Matcher: Sendable {
        /// Candidates by first scalar, longest first.
        let byFirst: [Unicode.Scalar: [([Unicode.Scalar], AddedToken)]]

        init(_ patterns: [([Unicode.Scalar], AddedToken)]) {
            var table: [Unicode.Scalar: [([Unicode.Scalar], AddedToken)]] = [:]
            for (pattern, token) in patterns where !pattern.isEmpty {
                table[pattern[0], default: []].append((pattern, token))
            }
            byFirst = table.mapValues { $0.sorted { $0.0.count > $1.0.count } }
        }

        func longestMatch(in text: [Unicode.Scalar], at i: Int) -> (length: Int, token: AddedToken)? {
            guard let candidates = byFirst[text[i]] else { return nil }
            for (pattern, token) in candidates where i + pattern.count <= text.count {
                if text[i..<(i + pattern.count)].elementsEqual(pattern) { return (pattern.count, token) }
            }
            return nil
        }

        func split(_ text: [Unicode.Scalar]) -> [InputPiece] {
            if byFirst.isEmpty { return [.text(text)] }
            var pieces: [InputPiece] = []
            var done = 0  // everything before this offset is in `pieces`
            var i = 0
            while i < text.count {
                guard let (length, token) = longestMatch(in: text, at: i) else { i += 1; continue }
                var start = i, stop = i + length
                i = stop
                if token.singleWord {
                    let wordBefore = start > 0 && CharacterClass.isWordCharacter(text[start - 1])
                    let wordAfter = stop < text.count && CharacterClass.isWordCharacter(text[stop])
                    if wordBefore || wordAfter { continue }
                }
                if token.lstrip {
                    while start > done && CharacterClass.isWhitespace(text[start - 1]) { start -= 1 }
                }
                if token.rstrip {
                    while stop < text.count && CharacterClass.isWhitespace(text[stop]) { stop += 1 }
                }
                if done < start { pieces.append(.text(Array(text[done..<start]))) }
                pieces.append(.token(Token(id: token.id, value: String(scalars: text[start..<stop]))))
                done = stop
            }
            if done < text.count { pieces.append(.text(Array(text[done...]))) }
            return pieces
        }
    }
}
