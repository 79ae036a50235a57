import Foundation

/// The result of encoding one text: ids for the model, the token strings, and a mask that is 0 on padding.
public struct Encoding: Sendable, Equatable {
    public var ids: [Int] = []
    public var tokens: [String] = []
    /// Segment ids (BERT's token_type_ids); 0 everywhere for a single text.
    public var typeIds: [Int] = []
    /// 1 for real tokens, 0 for padding.
    public var attentionMask: [Int] = []

    public init() {}

    mutating func append(ids: [Int], tokens: [String], typeId: Int) {
        self.ids += ids
        self.tokens += tokens
        typeIds += Array(repeating: typeId, count: ids.count)
        attentionMask += Array(repeating: 1, count: ids.count)
    }

    /// Keeps `length` tokens, dropping from the end (or the start for `.left`).
    mutating func truncate(to length: Int, direction: Truncation.Direction) {
        guard ids.count > length else { return }
        let keep = direction == .right ? 0..<length : (ids.count - length)..<ids.count
        ids = Array(ids[keep])
        tokens = Array(tokens[keep])
        typeIds = Array(typeIds[keep])
        attentionMask = Array(attentionMask[keep])
    }

    /// Pads up to `length` with masked-out pad tokens; longer encodings are left as they are.
    mutating func pad(to length: Int, id: Int, token: String, typeId: Int, direction: Truncation.Direction) {
        let count = length - ids.count
        guard count > 0 else { return }
        if direction == .right {
            append(ids: Array(repeating: id, count: count), tokens: Array(repeating: token, count: count),
                   typeId: typeId)
            attentionMask.replaceSubrange((attentionMask.count - count)..., with: repeatElement(0, count: count))
        } else {
            ids.insert(contentsOf: repeatElement(id, count: count), at: 0)
            tokens.insert(contentsOf: repeatElement(token, count: count), at: 0)
            typeIds.insert(contentsOf: repeatElement(typeId, count: count), at: 0)
            attentionMask.insert(contentsOf: repeatElement(0, count: count), at: 0)
        }
    }
}

/// tokenizer.json's `truncation`: at most `maxLength` tokens, special tokens included (the text is cut first,
/// then the post-processor's special tokens are added, so they always survive).
public struct Truncation: Sendable, Equatable {
    public enum Direction: String, Sendable {
        case left = "Left", right = "Right"
    }
    public var maxLength: Int
    public var direction: Direction

    public init(maxLength: Int, direction: Direction = .right) {
        self.maxLength = maxLength
        self.direction = direction
    }

    /// Reads the section; null means no truncation. Strategies other than the first sequence's matter only for
    /// pairs, and stride only for overflowing windows, neither of which this reader produces.
    static func read(_ json: JSONField) throws -> Truncation? {
        if json.isNull { return nil }
        let maxLength = try json["max_length"].int()
        guard maxLength >= 0 else { throw json["max_length"].invalid("a length of 0 or more") }
        return Truncation(maxLength: maxLength, direction: try direction(json["direction"]))
    }

    static func direction(_ json: JSONField) throws -> Direction {
        guard let name = try json.optionalString() else { return .right }
        guard let direction = Direction(rawValue: name) else { throw json.invalid("\"Left\" or \"Right\"") }
        return direction
    }
}

/// tokenizer.json's `padding`: pad to a fixed length or to the longest text of a batch.
public struct Padding: Sendable, Equatable {
    public enum Strategy: Sendable, Equatable {
        case batchLongest
        case fixed(Int)
    }
    public var strategy: Strategy
    public var direction: Truncation.Direction
    public var padToMultipleOf: Int?
    public var padId: Int
    public var padTypeId: Int
    public var padToken: String

    public init(strategy: Strategy, direction: Truncation.Direction = .right, padToMultipleOf: Int? = nil,
                padId: Int, padTypeId: Int = 0, padToken: String) {
        self.strategy = strategy
        self.direction = direction
        self.padToMultipleOf = padToMultipleOf
        self.padId = padId
        self.padTypeId = padTypeId
        self.padToken = padToken
    }

    /// Padding lengths allocate that many ids per text: a file asking for more than 2^20 is broken, not a context.
    static let longestPadding = 1 << 20

    static func paddingLength(_ json: JSONField) throws -> Int {
        let n = try json.int()
        guard (0...longestPadding).contains(n) else { throw json.invalid("a length from 0 to \(longestPadding)") }
        return n
    }

    /// Reads the section; null means no padding. `strategy` is `"BatchLongest"` or `{"Fixed": n}`.
    static func read(_ json: JSONField) throws -> Padding? {
        if json.isNull { return nil }
        let strategy: Strategy
        if case .string("BatchLongest") = json["strategy"].value {
            strategy = .batchLongest
        } else if !json["strategy"]["Fixed"].isNull {
            strategy = .fixed(try paddingLength(json["strategy"]["Fixed"]))
        } else {
            throw json["strategy"].invalid("\"BatchLongest\" or {\"Fixed\": length}")
        }
        return Padding(strategy: strategy, direction: try Truncation.direction(json["direction"]),
                       padToMultipleOf: json["pad_to_multiple_of"].isNull ? nil : try paddingLength(json["pad_to_multiple_of"]),
                       padId: try json["pad_id"].optionalInt() ?? 0,
                       padTypeId: try json["pad_type_id"].optionalInt() ?? 0,
                       padToken: try json["pad_token"].optionalString() ?? "[PAD]")
    }

    /// Pads every encoding of a batch to the strategy's length.
    func apply(to encodings: inout [Encoding]) {
        var length: Int
        switch strategy {
        case .batchLongest: length = encodings.map(\.ids.count).max() ?? 0
        case let .fixed(n): length = n
        }
        if let multiple = padToMultipleOf, multiple > 0, length % multiple != 0 {
            length += multiple - length % multiple
        }
        for i in encodings.indices {
            encodings[i].pad(to: length, id: padId, token: padToken, typeId: padTypeId, direction: direction)
        }
    }
}
