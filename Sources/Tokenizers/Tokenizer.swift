import Foundation

/// A text tokenizer read from a Hugging Face `tokenizer.json` (BPE as in CLIP, WordPiece as in BERT/MiniLM,
/// WordLevel). It runs the same pipeline as the `tokenizers` library and gives the same ids:
/// added tokens → normalizer → pre-tokenizer → model → truncation → post-processor (special tokens) →
/// padding.
public struct Tokenizer: Sendable {
    /// Where the definition came from (a path, or the `source` given to `init(json:source:)`), for messages.
    public let source: String
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: TokenizerModel
    let postProcessor: PostProcessor?
    let decoder: Decoder?
    let addedVocabulary: AddedVocabulary
    /// Applied by `encode(_:addSpecialTokens:)`, as in the Rust library; read from the file's `truncation`.
    public var truncation: Truncation?
    /// Applied by `encode(_:addSpecialTokens:)` and `encodeBatch(_:addSpecialTokens:)`; from the file's `padding`.
    public var padding: Padding?
    /// The id `encode(_:maxLength:)` pads with when none is passed: the file's `padding.pad_id`, else the id of a
    /// special token spelled `[PAD]` or `<pad>` (what transformers' tokenizer_config names in those models), else
    /// CLIP's `<|endoftext|>`.
    public var padId: Int?

    /// Reads a tokenizer.json file.
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadableFile(path: url.path, reason: error.localizedDescription)
        }
        try self.init(json: data, source: url.path)
    }

    /// Reads tokenizer.json contents; `source` names them in errors.
    public init(json data: Data, source: String = "tokenizer.json") throws {
        let root = try JSONField.document(data, file: source)
        guard root.isObject else { throw root.invalid("a JSON object with a \"model\" section") }
        let normalizer = root["normalizer"].isNull ? nil : try Normalizer(json: root["normalizer"])
        var added: [AddedToken] = []
        if !root["added_tokens"].isNull {
            added = try root["added_tokens"].array().map(AddedToken.init(json:))
        }
        let padding = try Padding.read(root["padding"])
        self.init(
            source: source, normalizer: normalizer,
            preTokenizer: root["pre_tokenizer"].isNull ? nil : try PreTokenizer(json: root["pre_tokenizer"]),
            model: try TokenizerModel(json: root["model"]),
            postProcessor: root["post_processor"].isNull ? nil : try PostProcessor(json: root["post_processor"]),
            decoder: root["decoder"].isNull ? nil : try Decoder(json: root["decoder"]),
            addedTokens: added, truncation: try Truncation.read(root["truncation"]), padding: padding,
            padId: padding?.padId ?? added.first { $0.special && ["[PAD]", "<pad>"].contains($0.content) }?.id
                // CLIP's tokenizer.json names no pad token; transformers pads CLIP with its end token.
                ?? added.first { $0.special && $0.content == "<|endoftext|>" }?.id)
    }

    init(source: String, normalizer: Normalizer?, preTokenizer: PreTokenizer?, model: TokenizerModel,
         postProcessor: PostProcessor?, decoder: Decoder?, addedTokens: [AddedToken], truncation: Truncation? = nil,
         padding: Padding? = nil, padId: Int? = nil) {
        self.source = source
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.decoder = decoder
        addedVocabulary = AddedVocabulary(tokens: addedTokens, normalizer: normalizer)
        self.truncation = truncation
        self.padding = padding
        self.padId = padId
    }

    // MARK: Vocabulary

    /// Number of distinct ids: the model's vocabulary plus added tokens outside it.
    public var vocabSize: Int {
        let vocab = model.vocab
        return vocab.count + addedVocabulary.tokens.filter { vocab[$0.content] == nil }.count
    }

    public func id(for token: String) -> Int? {
        addedVocabulary.tokens.first { $0.content.isIdentical(to: token) }?.id ?? model.vocab[token]
    }

    public func token(for id: Int) -> String? {
        addedVocabulary.tokens.first { $0.id == id }?.content ?? model.token(for: id)
    }

    // MARK: Encoding

    /// Encodes one text, applying the `truncation` and `padding` settings (from the file, or set since).
    public func encode(_ text: String, addSpecialTokens: Bool = true) throws -> Encoding {
        var encodings = [try encodeTruncated(text, addSpecialTokens: addSpecialTokens, maxLength: truncation?.maxLength,
                                             direction: truncation?.direction ?? .right)]
        padding?.apply(to: &encodings)
        return encodings[0]
    }

    /// Encodes several texts like `encode(_:addSpecialTokens:)`; a batch-longest `padding` pads to the longest.
    public func encodeBatch(_ texts: [String], addSpecialTokens: Bool = true) throws -> [Encoding] {
        var encodings = try texts.map {
            try encodeTruncated($0, addSpecialTokens: addSpecialTokens, maxLength: truncation?.maxLength,
                                direction: truncation?.direction ?? .right)
        }
        padding?.apply(to: &encodings)
        return encodings
    }

    /// Encodes to exactly `maxLength` tokens, as transformers' `tokenizer(text, max_length=n,
    /// padding="max_length", truncation=True)`: the text is cut so that the special tokens still fit, then padded
    /// with `padId` (or the tokenizer's `padId`). The file's truncation/padding lengths are not used, only the sides
    /// they name (right when the file names none).
    public func encode(_ text: String, maxLength: Int, pad: Bool = true, truncate: Bool = true, padId: Int? = nil,
                       addSpecialTokens: Bool = true) throws -> Encoding {
        var encoding = try encodeTruncated(text, addSpecialTokens: addSpecialTokens,
                                           maxLength: truncate ? maxLength : nil,
                                           direction: truncation?.direction ?? .right)
        if pad {
            guard let id = padId ?? self.padId else {
                throw TokenizerError.invalidArgument(
                    "\(source): no pad id: the file has no \"padding\" section; pass padId: to encode(_:maxLength:)")
            }
            encoding.pad(to: maxLength, id: id, token: token(for: id) ?? "", typeId: padding?.padTypeId ?? 0,
                         direction: padding?.direction ?? .right)
        }
        return encoding
    }

    /// Ids and attention masks for a batch, each exactly `maxLength` long (see `encode(_:maxLength:)`).
    public func encodeBatch(_ texts: [String], maxLength: Int, padId: Int? = nil) throws
        -> (ids: [[Int]], attentionMask: [[Int]]) {
        let encodings = try texts.map { try encode($0, maxLength: maxLength, padId: padId) }
        return (encodings.map(\.ids), encodings.map(\.attentionMask))
    }

    /// The pipeline up to the post-processor, with the text cut to leave room for the special tokens.
    private func encodeTruncated(_ text: String, addSpecialTokens: Bool, maxLength: Int?,
                                 direction: Truncation.Direction) throws -> Encoding {
        var encoding = Encoding()
        for token in try tokenize(text) { encoding.append(ids: [token.id], tokens: [token.value], typeId: 0) }
        let added = addSpecialTokens ? (postProcessor?.addedTokenCount ?? 0) : 0
        if let maxLength {
            guard maxLength >= added else {
                throw TokenizerError.invalidArgument(
                    "\(source): max length \(maxLength) cannot hold the \(added) special tokens the post-processor "
                        + "adds")
            }
            encoding.truncate(to: maxLength - added, direction: direction)
        }
        if addSpecialTokens, let postProcessor { encoding = postProcessor.process(encoding) }
        return encoding
    }

    /// Added tokens, then normalizer, pre-tokenizer and model on what is left.
    func tokenize(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        for piece in addedVocabulary.splitRaw(text.scalarArray) {
            guard case let .text(raw) = piece else {
                if case let .token(token) = piece { tokens.append(token) }
                continue
            }
            let normalized = normalizer?.normalize(raw) ?? raw
            for inner in addedVocabulary.splitNormalized(normalized) {
                switch inner {
                case let .token(token):
                    tokens.append(token)
                case let .text(part):
                    let words = preTokenizer?.split([part]) ?? [part]
                    for word in words where !word.isEmpty { tokens += try model.tokenize(word) }
                }
            }
        }
        return tokens
    }

    /// The words the model would see: normalised and pre-tokenised text, special tokens left out
    /// (used to build a word-level vocabulary from captions).
    public func preTokenize(_ text: String) throws -> [String] {
        var words: [String] = []
        for piece in addedVocabulary.splitRaw(text.scalarArray) {
            guard case let .text(raw) = piece else { continue }
            let normalized = normalizer?.normalize(raw) ?? raw
            for inner in addedVocabulary.splitNormalized(normalized) {
                guard case let .text(part) = inner else { continue }
                for word in preTokenizer?.split([part]) ?? [part] where !word.isEmpty {
                    var s = ""
                    s.unicodeScalars.append(contentsOf: word)
                    words.append(s)
                }
            }
        }
        return words
    }

    // MARK: Decoding

    /// Text for `ids` through the file's decoder; ids with no token are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        let tokens = ids.compactMap { id -> String? in
            if skipSpecialTokens && addedVocabulary.specialIds.contains(id) { return nil }
            return addedVocabulary.normalizedContent[id] ?? token(for: id)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens).joined()
    }
}
