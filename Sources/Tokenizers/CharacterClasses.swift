import Foundation

/// The character classes Hugging Face tokenizers uses, on Unicode scalars (Rust `char`s).
enum CharacterClass {
    /// BERT's whitespace: tab, newline and carriage return, plus Unicode White_Space (Rust `char::is_whitespace`).
    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace
    }

    /// BERT's control characters: categories Cc, Cf and Co, except tab, newline and carriage return
    /// (which BERT counts as whitespace).
    static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .privateUse: return true
        default: return false
        }
    }

    /// BERT's punctuation: every ASCII symbol and punctuation character (so `$`, `+`, `^` count), plus Unicode P*.
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII {
            let v = c.value
            return (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v)
        }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// The CJK ideograph blocks that BERT surrounds with spaces (not Hangul, Hiragana or Katakana).
    static func isChineseCharacter(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// Regex `\w` in Unicode mode: Alphabetic, marks, decimal digits, connector punctuation and joiners.
    static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
        let p = c.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    static func isNonspacingMark(_ c: Unicode.Scalar) -> Bool {
        c.properties.generalCategory == .nonspacingMark
    }
}

/// GPT-2's byte-level alphabet: every byte maps to a printable character (printable Latin-1 bytes to
/// themselves, the rest to U+0100 and up), so that BPE can work on any UTF-8 text without unknown characters.
enum ByteLevelAlphabet {
    /// The character for each byte, indexed by byte value.
    static let characters: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(byte) {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Bytes that stand for themselves: visible ASCII and Latin-1 except the soft hyphen.
    static func isPrintable(_ byte: Int) -> Bool {
        (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
    }

    /// The inverse of `characters`.
    static let bytes: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (byte, c) in characters.enumerated() { map[c] = UInt8(byte) }
        return map
    }()

    /// Characters in CLIP's vocabulary order: printable bytes first, then the remapped ones.
    static let vocabularyOrder: [Unicode.Scalar] = {
        let printable = (0..<256).filter(isPrintable)
        let rest = (0..<256).filter { !isPrintable($0) }
        return (printable + rest).map { characters[$0] }
    }()

    /// The byte-level spelling of a piece of text.
    static func encode(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for byte in String(String.UnicodeScalarView(text)).utf8 { out.append(characters[Int(byte)]) }
        return out
    }
}

extension String {
    /// A string made of exactly these scalars (no normalization, no grapheme rounding).
    init(scalars: some Sequence<Unicode.Scalar>) {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        self.init(view)
    }

    /// The Unicode scalars of the string, as an array that can be indexed by position.
    var scalarArray: [Unicode.Scalar] { Array(unicodeScalars) }
}
