/// A model used with inputs it cannot take (a wrong shape, a missing caption); config files are ConfigErrors.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
