/// A scheduler asked for a step it cannot take (a timestep outside its schedule, mismatched shapes).
public struct SchedulerError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
