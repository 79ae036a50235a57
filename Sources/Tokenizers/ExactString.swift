import Foundation

/// A vocabulary key compared by its exact UTF-8 bytes. Swift's String equality is canonical equivalence
/// ("한" equals its three jamo, "é" equals "e" + U+0301), but a vocabulary, like the Rust library, must tell such
/// spellings apart: after BERT's NFD the jamo are not the precomposed token.
struct ExactString: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (a: ExactString, b: ExactString) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    func hash(into hasher: inout Hasher) {
        var s = string  // withUTF8 makes the storage contiguous if needed, so every string hashes the same way
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// token → id, keyed exactly.
typealias Vocabulary = [ExactString: Int]

extension Dictionary where Key == ExactString {
    subscript(token: String) -> Value? {
        get { self[ExactString(token)] }
        set { self[ExactString(token)] = newValue }
    }
}

extension String {
    /// Prefix test on Unicode scalars (String.hasPrefix compares characters, so "##" + a combining mark fails).
    func hasScalarPrefix(_ prefix: String) -> Bool { unicodeScalars.starts(with: prefix.unicodeScalars) }

    /// Replaces every occurrence of `target`, comparing Unicode scalars rather than characters.
    func replacingScalars(_ target: String, with replacement: String) -> String {
        String(scalars: TextPattern(literal: target).replacingMatches(in: scalarArray, with: replacement.scalarArray))
    }

    /// Exact (byte-wise) equality.
    func isIdentical(to other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}
