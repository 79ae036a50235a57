import Foundation

/// Why a tokenizer could not be loaded or could not encode: each case names the file (or the source given to
/// `Tokenizer(json:source:)`) and the field, and says what was expected.
public enum TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be read (missing, unreadable, or a corrupt gzip archive).
    case unreadableFile(path: String, reason: String)
    /// The bytes are not a JSON document.
    case malformedJSON(file: String, reason: String)
    /// A required field is absent or null.
    case missingField(file: String, field: String, expected: String)
    /// A field holds a value of the wrong kind or out of range.
    case invalidField(file: String, field: String, expected: String, found: String)
    /// A component type (model, normalizer, ...) this reader does not implement.
    case unsupported(file: String, field: String, value: String, supported: String)
    /// Encoding met a piece that is not in the vocabulary and the model has no usable unknown token.
    case missingUnknownToken(model: String, token: String)
    /// An argument to an encoding call that cannot be honoured (e.g. a max length shorter than the special tokens).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .unreadableFile(path, reason):
            return "\(path): cannot be read (\(reason))"
        case let .malformedJSON(file, reason):
            return "\(file): not valid JSON (\(reason))"
        case let .missingField(file, field, expected):
            return "\(file): \(field) is missing (expected \(expected))"
        case let .invalidField(file, field, expected, found):
            return "\(file): \(field) is \(found) (expected \(expected))"
        case let .unsupported(file, field, value, supported):
            return "\(file): \(field) '\(value)' is not supported (expected \(supported))"
        case let .missingUnknownToken(model, token):
            return "\(model): '\(token)' is not in the vocabulary and the unknown token is not in it either"
        case let .invalidArgument(message):
            return message
        }
    }
}
