import Foundation

/// tokenizer.json's `normalizer`: rewrites the text before it is split into words.
indirect enum Normalizer: Sendable {
    /// BERT's cleanup: drop control characters, spaces around CJK ideographs, strip accents, lowercase.
    case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case sequence([Normalizer])
    case nfc, nfd, nfkc, nfkd
    case lowercase
    /// Drops nonspacing marks (only removes accents after NFD has separated them).
    case stripAccents
    case replace(TextPattern, with: [Unicode.Scalar])
    case strip(left: Bool, right: Bool)
    case prepend([Unicode.Scalar])

    static let supported =
        "BertNormalizer, Sequence, NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Replace, Strip, Prepend"

    init(json: JSONField) throws {
        let type = try json.typeName()
        switch type {
        case "BertNormalizer":
            let lowercase = try json["lowercase"].bool(default: true)
            self = .bert(
                cleanText: try json["clean_text"].bool(default: true),
                handleChineseChars: try json["handle_chinese_chars"].bool(default: true),
                // null means "follow lowercase", as in BERT's uncased checkpoints.
                stripAccents: try json["strip_accents"].optionalBool() ?? lowercase,
                lowercase: lowercase)
        case "Sequence":
            self = .sequence(try json["normalizers"].array().map(Normalizer.init(json:)))
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        case "Lowercase": self = .lowercase
        case "StripAccents": self = .stripAccents
        case "Replace":
            self = .replace(try TextPattern(json: json["pattern"]), with: try json["content"].string().scalarArray)
        case "Strip":
            self = .strip(left: try json["strip_left"].bool(default: true),
                          right: try json["strip_right"].bool(default: true))
        case "Prepend":
            self = .prepend(try json["prepend"].string().scalarArray)
        default:
            throw json.unsupported(type, supported: Self.supported)
        }
    }

    func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case let .bert(cleanText, handleChineseChars, stripAccents, lowercase):
            var out = text
            if cleanText {
                out = out.compactMap { c in
                    if c.value == 0 || c.value == 0xFFFD || CharacterClass.isControl(c) { return nil }
                    return CharacterClass.isWhitespace(c) ? " " : c
                }
            }
            if handleChineseChars {
                out = out.flatMap { c in CharacterClass.isChineseCharacter(c) ? [" ", c, " "] : [c] }
            }
            if stripAccents { out = Normalizer.stripAccents.normalize(Normalizer.nfd.normalize(out)) }
            if lowercase { out = Normalizer.lowercase.normalize(out) }
            return out
        case let .sequence(steps):
            return steps.reduce(text) { $1.normalize($0) }
        case .nfc:
            return String(scalars: text).precomposedStringWithCanonicalMapping.scalarArray
        case .nfd:
            return String(scalars: text).decomposedStringWithCanonicalMapping.scalarArray
        case .nfkc:
            return String(scalars: text).precomposedStringWithCompatibilityMapping.scalarArray
        case .nfkd:
            return String(scalars: text).decomposedStringWithCompatibilityMapping.scalarArray
        case .lowercase:
            // Per scalar, like Rust's char::to_lowercase: no context rules (a final sigma stays σ).
            return text.flatMap { c -> [Unicode.Scalar] in
                if c.isASCII { return [("A"..."Z").contains(c) ? Unicode.Scalar(c.value + 32)! : c] }
                return c.properties.lowercaseMapping.scalarArray
            }
        case .stripAccents:
            return text.filter { !CharacterClass.isNonspacingMark($0) }
        case let .replace(pattern, content):
            return pattern.replacingMatches(in: text, with: content)
        case let .strip(left, right):
            var start = 0, end = text.count
            if left { while start < end && CharacterClass.isWhitespace(text[start]) { start += 1 } }
            if right { while end > start && CharacterClass.isWhitespace(text[end - 1]) { end -= 1 } }
            return Array(text[start..<end])
        case let .prepend(prefix):
            return text.isEmpty ? text : prefix + text
        }
    }
}
