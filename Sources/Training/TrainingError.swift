/// Training that had to stop: a loss or gradient that is not finite, a checkpoint that could not be written.
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
