/// A cache that cannot be prepared as asked (the VAE overflowing in float16, say).
public struct PrepareError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
