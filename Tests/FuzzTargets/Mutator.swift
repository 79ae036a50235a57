import Core

/// Seeded byte-level mutations in the manner of libFuzzer's: bit flips, boundary values, cut, insert, repeat,
/// splice, truncate, and number rewrites for text formats (sizes, counts and offsets are where parsers break).
public struct Mutator {
    var rng: SplitMix64
    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    static let interestingBytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x0A, 0x2C, 0x3A]
    static let interestingNumbers = ["0", "-1", "1", "65535", "4294967296", "9223372036854775807", "99999999999999999999",
                                     "1e308", "-1e308", "NaN", "Infinity", "0.5", "-0", "2147483648"]
    static let interestingWords: [UInt64] = [0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x1_0000_0000,
                                             0x7FFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000]

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    /// One to four mutations of `input`; `corpus` supplies material for splicing.
    public mutating func mutate(_ input: [UInt8], corpus: [[UInt8]]) -> [UInt8] {
        var data = input
        for _ in 0...below(4) { data = once(data, corpus: corpus) }
        return data
    }

    mutating func once(_ input: [UInt8], corpus: [[UInt8]]) -> [UInt8] {
        var d = input
        if d.isEmpty { return [UInt8(truncatingIfNeeded: rng.next())] }
        let i = below(d.count)
        switch below(9) {
        case 0: d[i] ^= 1 << UInt8(below(8))
        case 1: d[i] = Self.interestingBytes[below(Self.interestingBytes.count)]
        case 2: d.removeSubrange(i..<min(d.count, i + 1 + below(16)))
        case 3: d.insert(contentsOf: (0...below(8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: i)
        case 4:
            let chunk = Array(d[i..<min(d.count, i + 1 + below(32))])
            d.insert(contentsOf: Array(repeating: chunk, count: 1 + below(8)).joined(), at: below(d.count))
        case 5: d.removeSubrange(below(d.count)...)
        case 6:
            // Rewrite the decimal number nearest to i (JSON, YAML and CSV sizes and ids).
            guard let start = d[i...].firstIndex(where: { (0x30...0x39).contains($0) }) else { break }
            let end = d[start...].firstIndex { !(0x30...0x39).contains($0) && $0 != 0x2E && $0 != 0x65 } ?? d.endIndex
            d.replaceSubrange(start..<end, with: Array(Self.interestingNumbers[below(Self.interestingNumbers.count)].utf8))
        case 7:
            let other = corpus[below(corpus.count)]
            guard !other.isEmpty else { break }
            let from = below(other.count)
            d.replaceSubrange(i..<min(d.count, i + below(64)), with: other[from..<min(other.count, from + 1 + below(64))])
        default:
            // A little-endian 32- or 64-bit boundary value (binary headers: lengths, offsets, dimensions).
            let width = below(2) == 0 ? 4 : 8
            let value = Self.interestingWords[below(Self.interestingWords.count)]
            for k in 0..<width where i + k < d.count { d[i + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
        }
        return d
    }
}
