import Foundation

extension Tokenizer {
    /// Number of merges CLIP uses from the merges file (its vocabulary is 49,408 = 512 + 48,894 + 2).
    static let clipMergeCount = 49152 - 256 - 2

    /// The regex CLIP cuts lowercased text with before byte-level BPE: the two special tokens, English
    /// contractions, runs of letters, single digits, runs of other non-space characters.
    static let clipPattern =
        #"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"#

    /// CLIP's tokenizer from OpenAI's merges file (`bpe_simple_vocab_16e6.txt.gz` as shipped by open_clip;
    /// gzip or plain text): a header line, then one merge per line. The vocabulary is built as CLIP's
    /// SimpleTokenizer does — the 256 byte characters, the same with `</w>`, one token per merge, then
    /// `<|startoftext|>` and `<|endoftext|>` — and the pipeline is the one transformers' CLIPTokenizer runs
    /// (NFC, collapse whitespace, lowercase, CLIP's regex, byte-level BPE, start/end tokens). Pads with
    /// `<|endoftext|>`, like CLIP.
    public static func clip(bpeMergesFile url: URL) throws -> Tokenizer {
        let path = url.path
        var data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadableFile(path: path, reason: error.localizedDescription)
        }
        if Gzip.isGzip(data) {
            do {
                data = try Gzip.decompress(data)
            } catch {
                throw TokenizerError.unreadableFile(path: path, reason: "\(error)")
            }
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.unreadableFile(path: path, reason: "not UTF-8 text")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > clipMergeCount else {
            throw TokenizerError.invalidField(
                file: path, field: "lines", expected: "a header line and at least \(clipMergeCount) merges",
                found: "\(max(lines.count - 1, 0)) lines after the header")
        }
        var merges: [(String, String)] = []
        merges.reserveCapacity(clipMergeCount)
        for (i, line) in lines[1...clipMergeCount].enumerated() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.invalidField(file: path, field: "line \(i + 2)",
                                                  expected: "a merge \"left right\"", found: "\"\(line.prefix(40))\"")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }

        let bytes = ByteLevelAlphabet.vocabularyOrder.map { String($0) }
        let tokens = bytes + bytes.map { $0 + "</w>" } + merges.map { $0.0 + $0.1 }
            + ["<|startoftext|>", "<|endoftext|>"]
        var vocab: Vocabulary = [:]
        vocab.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() { vocab[token] = id }  // a repeated merge result keeps the last id
        let start = vocab["<|startoftext|>"]!, end = vocab["<|endoftext|>"]!

        let model = try BPE(vocab: vocab, merges: merges, unkToken: "<|endoftext|>", endOfWordSuffix: "</w>",
                            file: path, field: "merges")
        return Tokenizer(
            source: path,
            normalizer: .sequence([.nfc, .replace(try TextPattern(regex: #"\s+"#), with: [" "]), .lowercase]),
            preTokenizer: .sequence([.split(try TextPattern(regex: clipPattern), .removed, invert: true),
                                     .byteLevel(addPrefixSpace: false, useRegex: true)]),
            model: .bpe(model),
            postProcessor: .wrap(cls: Token(id: start, value: "<|startoftext|>"),
                                 sep: Token(id: end, value: "<|endoftext|>")),
            decoder: .clipSuffix("</w>"),
            addedTokens: [AddedToken(id: start, content: "<|startoftext|>"),
                          AddedToken(id: end, content: "<|endoftext|>")],
            padId: end)
    }
}
