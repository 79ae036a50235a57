import Core
import Foundation
import Torch

/// Builds a word-level tokenizer.json from a caption corpus, for text encoders trained from scratch with the DiT:
/// BERT-style normalisation (lower case, each Chinese character its own word), whitespace and punctuation split,
/// `<|startoftext|> … <|endoftext|>` around every caption, padding with `<|pad|>` (id 0). The file loads in
/// Hugging Face `tokenizers` too.
public enum CaptionVocabulary {
    public static let specialTokens = ["<|pad|>", "<|unk|>", "<|startoftext|>", "<|endoftext|>"]

    /// The tokenizer.json text for `captions` (words sorted, so the same corpus always gives the same ids).
    public static func tokenizerJSON(captions: [String]) throws -> String {
        // Words as the tokenizer's own normaliser and pre-tokeniser see them: build a bootstrap tokenizer with an
        // empty vocabulary and ask it to split.
        let probe = try Tokenizer(json: Data(document(vocab: [:]).utf8), source: "caption vocabulary")
        var words = Set<String>()
        for caption in captions { for w in try probe.preTokenize(caption) { words.insert(w) } }
        var vocab: [String: Int] = [:]
        for (i, t) in specialTokens.enumerated() { vocab[t] = i }
        for (i, w) in words.sorted().enumerated() { vocab[w] = specialTokens.count + i }
        return document(vocab: vocab)
    }

    static func document(vocab: [String: Int]) -> String {
        let specials = specialTokens.enumerated().map { i, t -> JSONValue in
            .object(["id": .integer(i), "content": .string(t), "single_word": .bool(false), "lstrip": .bool(false),
                     "rstrip": .bool(false), "normalized": .bool(false), "special": .bool(true)])
        }
        let template: (String) -> JSONValue = { seq in
            .array([.object(["SpecialToken": .object(["id": .string("<|startoftext|>"), "type_id": .integer(0)])]),
                    .object(["Sequence": .object(["id": .string(seq), "type_id": .integer(0)])]),
                    .object(["SpecialToken": .object(["id": .string("<|endoftext|>"), "type_id": .integer(0)])])])
        }
        let root: JSONValue = .object([
            "version": .string("1.0"),
            "truncation": .null,
            "padding": .object(["strategy": .string("BatchLongest"), "direction": .string("Right"),
                                 "pad_to_multiple_of": .null, "pad_id": .integer(0), "pad_type_id": .integer(0),
                                 "pad_token": .string("<|pad|>")]),
            "added_tokens": .array(specials),
            "normalizer": .object(["type": .string("BertNormalizer"), "clean_text": .bool(true),
                                   "handle_chinese_chars": .bool(true), "strip_accents": .null, "lowercase": .bool(true)]),
            "pre_tokenizer": .object(["type": .string("BertPreTokenizer")]),
            "post_processor": .object([
                "type": .string("TemplateProcessing"), "single": template("A"),
                "pair": .array(template("A").arrayValue + template("B").arrayValue.dropFirst()),
                "special_tokens": .object([
                    "<|startoftext|>": .object(["id": .string("<|startoftext|>"), "ids": .array([.integer(2)]),
                                                 "tokens": .array([.string("<|startoftext|>")])]),
                    "<|endoftext|>": .object(["id": .string("<|endoftext|>"), "ids": .array([.integer(3)]),
                                               "tokens": .array([.string("<|endoftext|>")])]),
                ]),
            ]),
            "decoder": .null,
            "model": .object(["type": .string("WordLevel"), "vocab": .object(JSONObject(vocab.mapValues { .integer($0) })),
                              "unk_token": .string("<|unk|>")]),
        ])
        return root.serialized()
    }
}

extension JSONValue {
    var arrayValue: [JSONValue] {
        if case .array(let a) = self { return a }
        return []
    }
}
