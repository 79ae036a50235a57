import Foundation

/// A plain word → id table; anything else is the unknown token.
struct WordLevel: Sendable {
    let vocab: Vocabulary
    let tokens: [Int: String]
    let unkToken: String

    init(vocab: Vocabulary, unkToken: String = "<unk>") {
        self.vocab = vocab
        tokens = Dictionary(vocab.map { ($1, $0.string) }, uniquingKeysWith: { a, _ in a })
        self.unkToken = unkToken
    }

    /// Reads a `"type": "WordLevel"` model section.
    init(json: JSONField) throws {
        self.init(vocab: try readVocabulary(json["vocab"]), unkToken: try json["unk_token"].optionalString() ?? "<unk>")
    }

    func tokenize(_ word: [Unicode.Scalar]) throws -> [Token] {
        let text = String(scalars: word)
        if let id = vocab[text] { return [Token(id: id, value: text)] }
        guard let id = vocab[unkToken] else {
            throw TokenizerError.missingUnknownToken(model: "WordLevel", token: text)
        }
        return [Token(id: id, value: unkToken)]
    }
}
