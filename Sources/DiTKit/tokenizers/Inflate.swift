import Foundation

/// gzip decompression (RFC 1952 around RFC 1951 DEFLATE), enough to read open_clip's
/// `bpe_simple_vocab_16e6.txt.gz` without zlib (Foundation on Linux has no gzip API).
enum Gzip {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func isGzip(_ data: Data) -> Bool { data.starts(with: [0x1F, 0x8B]) }

    /// The concatenated contents of every gzip member in `data`; checks each member's CRC-32 and length.
    static func decompress(_ data: Data) throws -> Data {
        var input = BitReader(bytes: [UInt8](data))
        var output: [UInt8] = []
        repeat {
            let memberStart = output.count
            try readHeader(&input)
            try inflate(&input, into: &output)
            input.alignToByte()
            let crc = try input.littleEndian32(), size = try input.littleEndian32()
            let member = output[memberStart...]
            guard crc == crc32(member) else { throw Failure(description: "gzip: CRC-32 mismatch") }
            guard size == UInt32(truncatingIfNeeded: member.count) else {
                throw Failure(description: "gzip: length mismatch")
            }
        } while input.bytesLeft > 0
        return Data(output)
    }

    private static func readHeader(_ input: inout BitReader) throws {
        guard try input.byte() == 0x1F, try input.byte() == 0x8B else { throw Failure(description: "not a gzip file") }
        guard try input.byte() == 8 else { throw Failure(description: "gzip: compression method is not DEFLATE") }
        let flags = try input.byte()
        for _ in 0..<6 { _ = try input.byte() }  // mtime, extra flags, OS
        if flags & 0x04 != 0 {  // FEXTRA
            let length = Int(try input.byte()) | Int(try input.byte()) << 8
            for _ in 0..<length { _ = try input.byte() }
        }
        if flags & 0x08 != 0 { while try input.byte() != 0 {} }  // FNAME
        if flags & 0x10 != 0 { while try input.byte() != 0 {} }  // FCOMMENT
        if flags & 0x02 != 0 { _ = try input.byte(); _ = try input.byte() }  // FHCRC
    }

    /// Decodes one DEFLATE stream, appending to `output` (earlier output is the back-reference window).
    static func inflate(_ input: inout BitReader, into output: inout [UInt8]) throws {
        var last = false
        while !last {
            last = try input.bits(1) == 1
            switch try input.bits(2) {
            case 0:
                input.alignToByte()
                let length = Int(try input.bits(16)), complement = Int(try input.bits(16))
                guard length == ~complement & 0xFFFF else {
                    throw Failure(description: "deflate: bad stored block length")
                }
                for _ in 0..<length { output.append(try input.byte()) }
            case 1:
                try inflateBlock(&input, &output, literals: fixedLiterals, distances: fixedDistances)
            case 2:
                let (literals, distances) = try readDynamicCodes(&input)
                try inflateBlock(&input, &output, literals: literals, distances: distances)
            default:
                throw Failure(description: "deflate: reserved block type")
            }
        }
    }

    // Length codes 257...285 and distance codes 0...29: base value and number of extra bits (RFC 1951, 3.2.5).
    private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83,
                                     99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                      3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
                                       1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11,
                                        11, 12, 12, 13, 13]

    private static let fixedLiterals = try! HuffmanTable(
        lengths: Array(repeating: 8, count: 144) + Array(repeating: 9, count: 112) + Array(repeating: 7, count: 24)
            + Array(repeating: 8, count: 8))
    private static let fixedDistances = try! HuffmanTable(lengths: Array(repeating: 5, count: 30))

    private static func inflateBlock(_ input: inout BitReader, _ output: inout [UInt8], literals: HuffmanTable,
                                     distances: HuffmanTable) throws {
        while true {
            let symbol = try literals.decode(&input)
            if symbol < 256 {
                output.append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let l = symbol - 257
                guard l < lengthBase.count else { throw Failure(description: "deflate: bad length code") }
                let length = lengthBase[l] + Int(try input.bits(lengthExtra[l]))
                let d = try distances.decode(&input)
                guard d < distanceBase.count else { throw Failure(description: "deflate: bad distance code") }
                let distance = distanceBase[d] + Int(try input.bits(distanceExtra[d]))
                guard distance <= output.count else { throw Failure(description: "deflate: distance before start") }
                // Byte by byte: the copy may overlap what it is writing (a run).
                let start = output.count - distance
                for k in 0..<length { output.append(output[start + k]) }
            }
        }
    }

    /// The code-length code, then literal/length and distance code lengths (with run-length codes 16, 17, 18).
    private static func readDynamicCodes(_ input: inout BitReader) throws -> (HuffmanTable, HuffmanTable) {
        let literalCount = Int(try input.bits(5)) + 257
        let distanceCount = Int(try input.bits(5)) + 1
        let codeLengthCount = Int(try input.bits(4)) + 4
        let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
        var codeLengths = [Int](repeating: 0, count: 19)
        for i in 0..<codeLengthCount { codeLengths[order[i]] = Int(try input.bits(3)) }
        let codeLengthTable = try HuffmanTable(lengths: codeLengths)
        var lengths: [Int] = []
        while lengths.count < literalCount + distanceCount {
            let symbol = try codeLengthTable.decode(&input)
            switch symbol {
            case 0...15: lengths.append(symbol)
            case 16:
                guard let previous = lengths.last else { throw Failure(description: "deflate: repeat with no length") }
                lengths += repeatElement(previous, count: 3 + Int(try input.bits(2)))
            case 17: lengths += repeatElement(0, count: 3 + Int(try input.bits(3)))
            default: lengths += repeatElement(0, count: 11 + Int(try input.bits(7)))
            }
        }
        guard lengths.count == literalCount + distanceCount else {
            throw Failure(description: "deflate: too many lengths")
        }
        return (try HuffmanTable(lengths: Array(lengths[..<literalCount])),
                try HuffmanTable(lengths: Array(lengths[literalCount...])))
    }

    private static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = crcTable[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// Reads DEFLATE's bit stream: least significant bit first within each byte.
struct BitReader {
    let bytes: [UInt8]
    private var position = 0
    private var buffer: UInt64 = 0
    private var count = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Whole bytes not yet consumed (including those already in the bit buffer).
    var bytesLeft: Int { bytes.count - position + count / 8 }

    /// Fills the buffer with as many bytes as fit; at the end of input it may hold fewer than asked for.
    private mutating func refill() {
        while count <= 56 && position < bytes.count {
            buffer |= UInt64(bytes[position]) << UInt64(count)
            position += 1
            count += 8
        }
    }

    /// The next `n` bits (n ≤ 32) without consuming them, zero-padded past the end; and how many are real.
    mutating func peek(_ n: Int) -> (value: UInt32, available: Int) {
        if count < n { refill() }
        return (UInt32(truncatingIfNeeded: buffer & ((1 << UInt64(n)) - 1)), min(count, n))
    }

    mutating func consume(_ n: Int) {
        buffer >>= UInt64(n)
        count -= n
    }

    mutating func bits(_ n: Int) throws -> UInt32 {
        if n == 0 { return 0 }
        let (value, available) = peek(n)
        guard available == n else { throw Gzip.Failure(description: "deflate: unexpected end of data") }
        consume(n)
        return value
    }

    mutating func alignToByte() { consume(count % 8) }

    mutating func byte() throws -> UInt8 { UInt8(try bits(8)) }

    mutating func littleEndian32() throws -> UInt32 {
        let low = try bits(16)
        return try low | bits(16) << 16
    }
}

/// A canonical Huffman code decoded by one table lookup: entry = symbol << 4 | code length, indexed by the next
/// `maxLength` input bits (codes are stored bit-reversed, as they arrive).
struct HuffmanTable {
    private let table: [UInt32]
    private let maxLength: Int

    init(lengths: [Int]) throws {
        maxLength = max(1, lengths.max() ?? 1)
        guard maxLength <= 15 else { throw Gzip.Failure(description: "deflate: code longer than 15 bits") }
        var table = [UInt32](repeating: 0, count: 1 << maxLength)
        var countPerLength = [Int](repeating: 0, count: 16)
        for l in lengths where l > 0 { countPerLength[l] += 1 }
        // The first code of each length: shorter codes first, consecutive within a length.
        var nextCode = [Int](repeating: 0, count: 16)
        var code = 0
        for l in 1...15 {
            nextCode[l] = code
            code = (code + countPerLength[l]) << 1
        }
        for (symbol, l) in lengths.enumerated() where l > 0 {
            let canonical = nextCode[l]
            nextCode[l] += 1
            guard canonical < 1 << l else { throw Gzip.Failure(description: "deflate: over-subscribed code") }
            var reversed = 0
            for bit in 0..<l where canonical & (1 << (l - 1 - bit)) != 0 { reversed |= 1 << bit }
            var index = reversed
            while index < table.count {
                table[index] = UInt32(symbol) << 4 | UInt32(l)
                index += 1 << l
            }
        }
        self.table = table
    }

    func decode(_ input: inout BitReader) throws -> Int {
        let (bits, available) = input.peek(maxLength)
        let entry = table[Int(bits)]
        let length = Int(entry & 0xF)
        guard length > 0, length <= available else { throw Gzip.Failure(description: "deflate: invalid code") }
        input.consume(length)
        return Int(entry >> 4)
    }
}
