import Foundation

/// tokenizer.json's `decoder`: turns tokens back into text. Each step maps the token list to a new list; the
/// final list is concatenated (as in the Rust library's `decode_chain`).
indirect enum Decoder: Sendable {
    /// Drops the `##` of continuation pieces, puts a space before the others, optionally fixes " ." and " n't".
    case wordPiece(prefix: String, cleanup: Bool)
    /// Maps GPT-2's byte characters back to bytes and decodes UTF-8 (invalid bytes become U+FFFD).
    case byteLevel
    /// Replaces the end-of-word suffix with a space (nothing after the last token).
    case bpe(suffix: String)
    case replace(TextPattern, with: String)
    /// Removes up to `left`/`right` copies of `content` at each end of every token.
    case strip(content: Unicode.Scalar, left: Int, right: Int)
    case fuse
    case sequence([Decoder])
    /// transformers' CLIPTokenizer: after byte-level decoding, `</w>` becomes a space and the ends are trimmed.
    case clipSuffix(String)

    /// nil for a decoder type this reader does not implement: decoding then joins tokens with spaces, as the Rust
    /// library does without a decoder (encoding never depends on the decoder, so loading does not fail).
    init?(json: JSONField) throws {
        switch try json.typeName() {
        case "WordPiece":
            self = .wordPiece(prefix: try json["prefix"].optionalString() ?? "##",
                              cleanup: try json["cleanup"].bool(default: true))
        case "ByteLevel": self = .byteLevel
        case "BPEDecoder": self = .bpe(suffix: try json["suffix"].optionalString() ?? "</w>")
        case "Replace":
            self = .replace(try TextPattern(json: json["pattern"]), with: try json["content"].string())
        case "Strip":
            let content = try json["content"].string()
            guard content.unicodeScalars.count == 1 else { throw json["content"].invalid("a single character") }
            self = .strip(content: content.unicodeScalars.first!, left: try json["start"].optionalInt() ?? 0,
                          right: try json["stop"].optionalInt() ?? 0)
        case "Fuse": self = .fuse
        case "Sequence":
            let steps = try json["decoders"].array().map { try Decoder(json: $0) }
            if steps.contains(where: { $0 == nil }) { return nil }
            self = .sequence(steps.compactMap { $0 })
        default:
            return nil
        }
    }

    func decode(_ tokens: [String]) -> [String] {
        switch self {
        case let .wordPiece(prefix, cleanup):
            return tokens.enumerated().map { i, token in
                var text = token
                if i > 0 {
                    text = token.hasScalarPrefix(prefix)
                        ? String(scalars: token.unicodeScalars.dropFirst(prefix.unicodeScalars.count)) : " " + token
                }
                return cleanup ? Self.cleanUpTokenization(text) : text
            }
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                let mapped = token.unicodeScalars.map { ByteLevelAlphabet.bytes[$0] }
                // A token with a character outside the byte alphabet (an added token) is kept as UTF-8.
                if mapped.allSatisfy({ $0 != nil }) { bytes += mapped.map { $0! } } else { bytes += Array(token.utf8) }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case let .bpe(suffix):
            return tokens.enumerated().map { i, token in
                token.replacingScalars(suffix, with: i == tokens.count - 1 ? "" : " ")
            }
        case let .replace(pattern, content):
            return tokens.map {
                String(scalars: pattern.replacingMatches(in: $0.scalarArray, with: content.scalarArray))
            }
        case let .strip(content, left, right):
            return tokens.map { token in
                var chars = token.scalarArray[...]
                var n = 0
                while n < left, chars.first == content { chars.removeFirst(); n += 1 }
                n = 0
                while n < right, chars.last == content { chars.removeLast(); n += 1 }
                return String(scalars: chars)
            }
        case .fuse:
            return [tokens.joined()]
        case let .sequence(steps):
            return steps.reduce(tokens) { $1.decode($0) }
        case let .clipSuffix(suffix):
            let text = Decoder.byteLevel.decode(tokens).joined().replacingScalars(suffix, with: " ").scalarArray
            // Python's str.strip(): White_Space plus the information separators U+001C...U+001F.
            let isSpace = { (c: Unicode.Scalar) in c.properties.isWhitespace || (0x1C...0x1F).contains(c.value) }
            guard let first = text.firstIndex(where: { !isSpace($0) }),
                  let last = text.lastIndex(where: { !isSpace($0) }) else { return [""] }
            return [String(scalars: text[first...last])]
        }
    }

    /// BERT's detokenization fixes: no space before punctuation and English contractions.
    static func cleanUpTokenization(_ text: String) -> String {
        let rules = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                     (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]
        return rules.reduce(text) { $0.replacingScalars($1.0, with: $1.1) }
    }
}
