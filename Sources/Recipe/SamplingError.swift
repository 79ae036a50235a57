/// Generation that cannot run as asked: no prompts, a sampler that does not solve the run's objective.
public struct SamplingError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
