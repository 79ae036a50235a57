import Foundation

/// One token the model produced for a word.
struct Token: Sendable, Equatable {
    let id: Int
    let value: String
}

/// Byte-pair encoding: a word starts as single characters and adjacent pairs are merged, lowest merge rank first
/// (leftmost on ties), until no listed pair remains. CLIP marks the last character of a word with `</w>`.
struct BPE: Sendable {
    let vocab: Vocabulary
    let tokens: [Int: String]
    let unkToken: String?
    let continuingSubwordPrefix: String?
    let endOfWordSuffix: String?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    /// (left id, right id) packed in one key → (rank, id of the merged token).
    private let merges: [UInt64: (rank: Int, id: Int)]

    /// `merges` in rank order; `field` names them in errors (e.g. "model.merges").
    init(vocab: Vocabulary, merges: [(String, String)], unkToken: String? = nil,
         continuingSubwordPrefix: String? = nil, endOfWordSuffix: String? = nil, fuseUnk: Bool = false,
         byteFallback: Bool = false, ignoreMerges: Bool = false, file: String, field: String) throws {
        self.vocab = vocab
        tokens = Dictionary(vocab.map { ($1, $0.string) }, uniquingKeysWith: { a, _ in a })
        self.unkToken = unkToken
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        self.fuseUnk = fuseUnk
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        var table: [UInt64: (rank: Int, id: Int)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (a, b)) in merges.enumerated() {
            // The merged token drops the right part's continuing-subword prefix ("##").
            var right = b
            if let prefix = continuingSubwordPrefix, !prefix.isEmpty, b.hasScalarPrefix(prefix) {
                right = String(scalars: b.unicodeScalars.dropFirst(prefix.unicodeScalars.count))
            }
            let merged = a + right
            for part in [a, b, merged] where vocab[part] == nil {
                throw TokenizerError.invalidField(
                    file: file, field: "\(field)[\(rank)]",
                    expected: "a merge of two tokens of model.vocab into a third",
                    found: "'\(a) \(b)', but '\(part)' is not in the vocabulary")
            }
            table[Self.key(vocab[a]!, vocab[b]!)] = (rank, vocab[merged]!)
        }
        self.merges = table
    }

    /// Reads a `"type": "BPE"` model section.
    init(json: JSONField) throws {
        let vocab = try readVocabulary(json["vocab"])
        var merges: [(String, String)] = []
        if !json["merges"].isNull {
            for item in try json["merges"].array() {
                if case let .string(line) = item.value {
                    let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw item.invalid("\"left right\" or [\"left\", \"right\"]") }
                    merges.append((String(parts[0]), String(parts[1])))
                } else if case let .array(pair) = item.value, pair.count == 2,
                          case let .string(a) = pair[0], case let .string(b) = pair[1] {
                    merges.append((a, b))
                } else {
                    throw item.invalid("\"left right\" or [\"left\", \"right\"]")
                }
            }
        }
        // Dropout only matters for training; encoding here is always deterministic.
        try self.init(
            vocab: vocab, merges: merges, unkToken: try json["unk_token"].optionalString(),
            continuingSubwordPrefix: try json["continuing_subword_prefix"].optionalString(),
            endOfWordSuffix: try json["end_of_word_suffix"].optionalString(),
            fuseUnk: try json["fuse_unk"].bool(default: false),
            byteFallback: try json["byte_fallback"].bool(default: false),
            ignoreMerges: try json["ignore_merges"].bool(default: false), file: json.file, field: json["merges"].path)
    }

    private static func key(_ left: Int, _ right: Int) -> UInt64 {
        UInt64(UInt32(truncatingIfNeeded: left)) << 32 | UInt64(UInt32(truncatingIfNeeded: right))
    }

    func tokenize(_ word: [Unicode.Scalar]) throws -> [Token] {
        if word.isEmpty { return [] }
        if ignoreMerges, let id = vocab[String(scalars: word)] { return [Token(id: id, value: String(scalars: word))] }

        // Initial symbols: one per character, with prefix/suffix marks; unknown characters become unk.
        var symbols: [Int] = []
        symbols.reserveCapacity(word.count)
        var pendingUnk: Int?  // an unk waiting in case the next character is unknown too (fuse_unk)
        for (i, c) in word.enumerated() {
            var piece = String(c)
            if i > 0, let prefix = continuingSubwordPrefix { piece = prefix + piece }
            if i == word.count - 1, let suffix = endOfWordSuffix { piece += suffix }
            if let id = vocab[piece] {
                if let unk = pendingUnk { symbols.append(unk); pendingUnk = nil }
                symbols.append(id)
                continue
            }
            if byteFallback {
                let ids = piece.utf8.map { vocab[String(format: "<0x%02X>", $0)] }
                if ids.allSatisfy({ $0 != nil }) {
                    symbols += ids.map { $0! }
                    continue
                }
            }
            // Without an unk token, an unknown character is dropped (as the Rust library does).
            guard let unkToken else { continue }
            guard let unk = vocab[unkToken] else {
                throw TokenizerError.missingUnknownToken(model: "BPE", token: piece)
            }
            if pendingUnk != nil && !fuseUnk { symbols.append(unk) }
            pendingUnk = unk
        }
        if let unk = pendingUnk { symbols.append(unk) }

        // ranks[i]: rank of the pair (symbols[i], symbols[i+1]), Int.max when it is not a merge.
        func rank(_ i: Int) -> Int { merges[Self.key(symbols[i], symbols[i + 1])]?.rank ?? Int.max }
        var ranks = symbols.indices.dropLast().map(rank)
        while true {
            var best = -1, bestRank = Int.max
            for (i, r) in ranks.enumerated() where r < bestRank { best = i; bestRank = r }
            if best < 0 { break }
            symbols[best] = merges[Self.key(symbols[best], symbols[best + 1])]!.id
            symbols.remove(at: best + 1)
            ranks.remove(at: best)
            if best < ranks.count { ranks[best] = rank(best) }
            if best > 0 { ranks[best - 1] = rank(best - 1) }
        }
        return symbols.map { Token(id: $0, value: tokens[$0] ?? "") }
    }
}

/// Reads a `{"token": id}` vocabulary object.
func readVocabulary(_ json: JSONField) throws -> Vocabulary {
    let expected = "an object mapping each token to its id"
    if json.isNull { throw json.missing(expected) }
    guard case let .object(members) = json.value else { throw json.invalid(expected) }
    var vocab: Vocabulary = [:]
    vocab.reserveCapacity(members.count)
    for (token, id) in members {
        guard case let .integer(n) = id, n >= 0 else {
            let field = JSONField(value: id, path: "\(json.path).\(token)", file: json.file)
            throw field.invalid("a token id (an integer ≥ 0)")
        }
        vocab[token] = n
    }
    return vocab
}
