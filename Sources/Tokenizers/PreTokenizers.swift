import Foundation

/// tokenizer.json's `pre_tokenizer`: cuts normalized text into words that the model tokenizes one by one.
indirect enum PreTokenizer: Sendable {
    /// BERT: split on whitespace (dropped), then isolate each punctuation character.
    case bert
    /// `\w+|[^\w\s]+`: runs of word characters and runs of other non-space characters.
    case whitespace
    case whitespaceSplit
    /// GPT-2's byte-level step: optional leading space, optional GPT-2 regex split, then bytes as characters.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(TextPattern, SplitBehavior, invert: Bool)
    case punctuation(SplitBehavior)
    case digits(individual: Bool)
    case sequence([PreTokenizer])

    static let supported =
        "BertPreTokenizer, Whitespace, WhitespaceSplit, ByteLevel, Split, Punctuation, Digits, Sequence"

    /// The regex GPT-2 uses to cut text before byte-level BPE (contractions, letters, numbers, other, spaces).
    static let gpt2Pattern = try! TextPattern(
        regex: #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#)

    init(json: JSONField) throws {
        let type = try json.typeName()
        switch type {
        case "BertPreTokenizer": self = .bert
        case "Whitespace": self = .whitespace
        case "WhitespaceSplit": self = .whitespaceSplit
        case "ByteLevel":
            self = .byteLevel(addPrefixSpace: try json["add_prefix_space"].bool(default: true),
                              useRegex: try json["use_regex"].bool(default: true))
        case "Split":
            self = .split(try TextPattern(json: json["pattern"]), try SplitBehavior(json: json["behavior"]),
                          invert: try json["invert"].bool(default: false))
        case "Punctuation":
            self = .punctuation(json["behavior"].isNull ? .isolated : try SplitBehavior(json: json["behavior"]))
        case "Digits":
            self = .digits(individual: try json["individual_digits"].bool(default: false))
        case "Sequence":
            self = .sequence(try json["pretokenizers"].array().map(PreTokenizer.init(json:)))
        default:
            throw json.unsupported(type, supported: Self.supported)
        }
    }

    /// Splits each piece further; empty pieces disappear.
    func split(_ pieces: [[Unicode.Scalar]]) -> [[Unicode.Scalar]] {
        switch self {
        case .bert:
            let words = pieces.flatMap { splitOn($0, where: CharacterClass.isWhitespace, .removed) }
            return words.flatMap { splitOn($0, where: CharacterClass.isPunctuation, .isolated) }
        case .whitespace:
            return pieces.flatMap(Self.wordRuns)
        case .whitespaceSplit:
            return pieces.flatMap { splitOn($0, where: CharacterClass.isWhitespace, .removed) }
        case let .byteLevel(addPrefixSpace, useRegex):
            return pieces.flatMap { piece -> [[Unicode.Scalar]] in
                var piece = piece
                if addPrefixSpace && piece.first != " " { piece.insert(" ", at: 0) }
                let words = useRegex
                    ? SplitBehavior.isolated.split(piece, delimiters: Self.gpt2Pattern.matches(in: piece))
                    : [piece]
                return words.map(ByteLevelAlphabet.encode)
            }
        case let .split(pattern, behavior, invert):
            return pieces.flatMap { behavior.split($0, delimiters: pattern.matches(in: $0), invert: invert) }
        case let .punctuation(behavior):
            return pieces.flatMap { splitOn($0, where: CharacterClass.isPunctuation, behavior) }
        case let .digits(individual):
            // Rust's char::is_numeric: the N* categories (not Unihan numeric values such as 一).
            let numeric: (Unicode.Scalar) -> Bool = {
                [.decimalNumber, .letterNumber, .otherNumber].contains($0.properties.generalCategory)
            }
            return pieces.flatMap { splitOn($0, where: numeric, individual ? .isolated : .contiguous) }
        case let .sequence(steps):
            return steps.reduce(pieces) { $1.split($0) }
        }
    }

    /// Every scalar that satisfies `isDelimiter` is a delimiter of its own.
    private func splitOn(_ text: [Unicode.Scalar], where isDelimiter: (Unicode.Scalar) -> Bool,
                         _ behavior: SplitBehavior) -> [[Unicode.Scalar]] {
        let delimiters = text.indices.filter { isDelimiter(text[$0]) }.map { $0..<($0 + 1) }
        return behavior.split(text, delimiters: delimiters)
    }

    /// `\w+|[^\w\s]+`, keeping the matches and dropping the whitespace between them.
    private static func wordRuns(_ text: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        enum Kind { case word, space, other }
        func kind(_ c: Unicode.Scalar) -> Kind {
            CharacterClass.isWordCharacter(c) ? .word : CharacterClass.isWhitespace(c) ? .space : .other
        }
        var runs: [[Unicode.Scalar]] = []
        var i = 0
        while i < text.count {
            let k = kind(text[i])
            var j = i + 1
            while j < text.count && kind(text[j]) == k { j += 1 }
            if k != .space { runs.append(Array(text[i..<j])) }
            i = j
        }
        return runs
    }
}
