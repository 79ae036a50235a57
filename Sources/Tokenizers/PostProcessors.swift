import Foundation

/// tokenizer.json's `post_processor`: wraps the encoded text in special tokens (`[CLS] … [SEP]`,
/// `<|startoftext|> … <|endoftext|>`) and sets type ids. Only single sequences are encoded here, so only the
/// single-sequence template is read.
indirect enum PostProcessor: Sendable {
    /// TemplateProcessing's `single` template.
    case template([TemplatePiece])
    /// BertProcessing and RobertaProcessing: `cls` + text + `sep` (they differ only for pairs).
    case wrap(cls: Token, sep: Token)
    /// ByteLevel trims offsets only, which this reader does not track.
    case none
    case sequence([PostProcessor])

    enum TemplatePiece: Sendable {
        case sequence(typeId: Int)
        case special(ids: [Int], tokens: [String], typeId: Int)
    }

    static let supported = "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence"

    init(json: JSONField) throws {
        let type = try json.typeName()
        switch type {
        case "TemplateProcessing":
            var specials: [String: (ids: [Int], tokens: [String])] = [:]
            if !json["special_tokens"].isNull {
                for (name, entry) in try json["special_tokens"].members() {
                    specials[name] = (try entry["ids"].array().map { try $0.int() },
                                      try entry["tokens"].array().map { try $0.string() })
                }
            }
            self = .template(try json["single"].array().map { try Self.templatePiece($0, specials: specials) })
        case "BertProcessing", "RobertaProcessing":
            self = .wrap(cls: try Self.tokenPair(json["cls"]), sep: try Self.tokenPair(json["sep"]))
        case "ByteLevel":
            self = .none
        case "Sequence":
            self = .sequence(try json["processors"].array().map(PostProcessor.init(json:)))
        default:
            throw json.unsupported(type, supported: Self.supported)
        }
    }

    /// `["[CLS]", 101]`.
    private static func tokenPair(_ json: JSONField) throws -> Token {
        let items = try json.array()
        guard items.count == 2 else { throw json.invalid("[token, id]") }
        return Token(id: try items[1].int(), value: try items[0].string())
    }

    /// `{"Sequence": {"id": "A", "type_id": 0}}`, `{"SpecialToken": {"id": "[CLS]", "type_id": 0}}`, or the
    /// string shorthand `"$A"`, `"$A:1"`, `"[CLS]"`, `"[SEP]:1"`.
    private static func templatePiece(_ json: JSONField, specials: [String: (ids: [Int], tokens: [String])])
        throws -> TemplatePiece {
        var name: String
        var typeId = 0
        var isSequence: Bool
        if case let .string(text) = json.value {
            name = text
            if let colon = text.lastIndex(of: ":"), let n = Int(text[text.index(after: colon)...]) {
                name = String(text[..<colon])
                typeId = n
            }
            isSequence = name.hasPrefix("$")
        } else if !json["Sequence"].isNull {
            name = try json["Sequence"]["id"].string()
            typeId = try json["Sequence"]["type_id"].optionalInt() ?? 0
            isSequence = true
        } else if !json["SpecialToken"].isNull {
            name = try json["SpecialToken"]["id"].string()
            typeId = try json["SpecialToken"]["type_id"].optionalInt() ?? 0
            isSequence = false
        } else {
            throw json.invalid("{\"Sequence\": ...} or {\"SpecialToken\": ...}")
        }
        if isSequence { return .sequence(typeId: typeId) }
        guard let special = specials[name], special.ids.count == special.tokens.count else {
            throw json.invalid("a special token listed in special_tokens (with as many ids as tokens)")
        }
        return .special(ids: special.ids, tokens: special.tokens, typeId: typeId)
    }

    /// How many tokens `process` adds, which truncation reserves room for.
    var addedTokenCount: Int {
        switch self {
        case let .template(pieces):
            return pieces.reduce(0) {
                if case let .special(ids, _, _) = $1 { return $0 + ids.count }
                return $0
            }
        case .wrap: return 2
        case .none: return 0
        case let .sequence(steps): return steps.reduce(0) { $0 + $1.addedTokenCount }
        }
    }

    func process(_ encoding: Encoding) -> Encoding {
        switch self {
        case let .template(pieces):
            var out = Encoding()
            for piece in pieces {
                switch piece {
                case let .sequence(typeId):
                    out.append(ids: encoding.ids, tokens: encoding.tokens, typeId: typeId)
                case let .special(ids, tokens, typeId):
                    out.append(ids: ids, tokens: tokens, typeId: typeId)
                }
            }
            return out
        case let .wrap(cls, sep):
            var out = Encoding()
            out.append(ids: [cls.id], tokens: [cls.value], typeId: 0)
            out.append(ids: encoding.ids, tokens: encoding.tokens, typeId: 0)
            out.append(ids: [sep.id], tokens: [sep.value], typeId: 0)
            return out
        case .none:
            return encoding
        case let .sequence(steps):
            return steps.reduce(encoding) { $1.process($0) }
        }
    }
}
