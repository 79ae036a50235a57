import Foundation

/// BERT's WordPiece: greedy longest-match-first; pieces after the first carry the `##` prefix, and a word that
/// cannot be covered (or is too long) becomes a single unknown token.
struct WordPiece: Sendable {
    let vocab: Vocabulary
    let tokens: [Int: String]
    let unkToken: String
    let continuingSubwordPrefix: String
    let maxInputCharsPerWord: Int

    init(vocab: Vocabulary, unkToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
         maxInputCharsPerWord: Int = 100) {
        self.vocab = vocab
        tokens = Dictionary(vocab.map { ($1, $0.string) }, uniquingKeysWith: { a, _ in a })
        self.unkToken = unkToken
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
    }

    /// Reads a `"type": "WordPiece"` model section.
    init(json: JSONField) throws {
        self.init(vocab: try readVocabulary(json["vocab"]),
                  unkToken: try json["unk_token"].optionalString() ?? "[UNK]",
                  continuingSubwordPrefix: try json["continuing_subword_prefix"].optionalString() ?? "##",
                  maxInputCharsPerWord: try json["max_input_chars_per_word"].optionalInt() ?? 100)
    }

    func tokenize(_ word: [Unicode.Scalar]) throws -> [Token] {
        if word.isEmpty { return [] }
        if word.count > maxInputCharsPerWord { return [try unknown(word)] }
        var pieces: [Token] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Token?
            while start < end {
                var candidate = String(scalars: word[start..<end])
                if start > 0 { candidate = continuingSubwordPrefix + candidate }
                if let id = vocab[candidate] {
                    found = Token(id: id, value: candidate)
                    break
                }
                end -= 1
            }
            guard let piece = found else { return [try unknown(word)] }
            pieces.append(piece)
            start = end
        }
        return pieces
    }

    private func unknown(_ word: [Unicode.Scalar]) throws -> Token {
        guard let id = vocab[unkToken] else {
            throw TokenizerError.missingUnknownToken(model: "WordPiece", token: String(scalars: word))
        }
        return Token(id: id, value: unkToken)
    }
}
