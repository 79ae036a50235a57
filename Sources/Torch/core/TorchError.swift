import CTorch

/// A failure reported by libtorch (its message, without the C++ backtrace) or by the Swift layer.
public struct TorchError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// The calling thread's last shim error.
    static func last() -> TorchError {
        if let p = ct_last_error() { return TorchError(String(cString: p)) }
        return TorchError("libtorch call failed without a message")
    }
}

/// Wraps a handle returned by the shim, turning NULL into the shim's error.
@inline(__always)
func wrap(_ handle: OpaquePointer?) throws -> Tensor {
    guard let handle else { throw TorchError.last() }
    return Tensor(owning: handle)
}

/// Throws the shim's error when a status-returning call failed.
@inline(__always)
func check(_ status: Int32) throws {
    if status != 0 { throw TorchError.last() }
}

@inline(__always)
func withInt64s<R>(_ values: [Int], _ body: (UnsafePointer<Int64>?, Int64) throws -> R) rethrows -> R {
    let converted = values.map(Int64.init)
    return try converted.withUnsafeBufferPointer { try body($0.baseAddress, Int64($0.count)) }
}

@inline(__always)
func withHandles<R>(_ tensors: [Tensor], _ body: (UnsafePointer<OpaquePointer?>?, Int64) throws -> R) rethrows -> R {
    let handles: [OpaquePointer?] = tensors.map { $0.handle }
    return try withExtendedLifetime(tensors) {
        try handles.withUnsafeBufferPointer { try body($0.baseAddress, Int64($0.count)) }
    }
}
