import Foundation

/// A config file that does not say what is needed: names the file, the key and what was expected.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let key: String?
    public let message: String
    public init(file: String, key: String? = nil, _ message: String) {
        self.file = file
        self.key = key
        self.message = message
    }
    public var description: String { key.map { "\(file): \($0): \(message)" } ?? "\(file): \(message)" }
}

/// A file or directory that is not what was expected (a dataset, a cache, a checkpoint): names the path.
public struct FileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}
