import Foundation

/// tokenizer.json's `model`: turns one pre-tokenized word into tokens.
enum TokenizerModel: Sendable {
    case bpe(BPE)
    case wordPiece(WordPiece)
    case wordLevel(WordLevel)

    init(json: JSONField) throws {
        if json.isNull { throw json.missing("an object with \"type\": BPE, WordPiece or WordLevel") }
        // Old files written by the Python bindings may leave out "type"; tell the models apart by their fields.
        let type: String
        if !json["type"].isNull {
            type = try json.typeName()
        } else if !json["merges"].isNull {
            type = "BPE"
        } else if !json["continuing_subword_prefix"].isNull || !json["max_input_chars_per_word"].isNull {
            type = "WordPiece"
        } else {
            type = "WordLevel"
        }
        switch type {
        case "BPE": self = .bpe(try BPE(json: json))
        case "WordPiece": self = .wordPiece(try WordPiece(json: json))
        case "WordLevel": self = .wordLevel(try WordLevel(json: json))
        default: throw json.unsupported(type, supported: "BPE, WordPiece or WordLevel")
        }
    }

    func tokenize(_ word: [Unicode.Scalar]) throws -> [Token] {
        switch self {
        case let .bpe(m): return try m.tokenize(word)
        case let .wordPiece(m): return try m.tokenize(word)
        case let .wordLevel(m): return try m.tokenize(word)
        }
    }

    var vocab: Vocabulary {
        switch self {
        case let .bpe(m): return m.vocab
        case let .wordPiece(m): return m.vocab
        case let .wordLevel(m): return m.vocab
        }
    }

    func token(for id: Int) -> String? {
        switch self {
        case let .bpe(m): return m.tokens[id]
        case let .wordPiece(m): return m.tokens[id]
        case let .wordLevel(m): return m.tokens[id]
        }
    }
}
