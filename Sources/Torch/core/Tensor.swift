import CTorch

/// An n-dimensional array backed by a libtorch tensor. The handle is released when the last Swift reference
/// goes away (ARC), so memory is returned as deterministically as in Python's reference counting.
public final class Tensor: @unchecked Sendable {
    let handle: OpaquePointer

    init(owning handle: OpaquePointer) { self.handle = handle }
    deinit { ct_free(handle) }

    // MARK: Metadata

    public var dtype: DType { DType(rawValue: ct_dtype(handle)) ?? .float32 }
    public var rank: Int { Int(ct_dim(handle)) }
    public var shape: [Int] {
        var sizes = [Int64](repeating: 0, count: rank)
        sizes.withUnsafeMutableBufferPointer { ct_sizes(handle, $0.baseAddress) }
        return sizes.map(Int.init)
    }
    public var strides: [Int] {
        var s = [Int64](repeating: 0, count: rank)
        s.withUnsafeMutableBufferPointer { ct_strides(handle, $0.baseAddress) }
        return s.map(Int.init)
    }
    public var count: Int { Int(ct_numel(handle)) }
    public var isContiguous: Bool { ct_is_contiguous(handle) }
    public var device: Device {
        switch ct_device_type(handle) {
        case Int32(CT_CUDA): .cuda(Int(Swift.max(0, ct_device_index(handle))))
        case Int32(CT_META): .meta
        default: .cpu
        }
    }
    /// Size of dimension `d` (negative counts from the end).
    public func size(_ d: Int) -> Int {
        let s = shape
        return s[d < 0 ? d + s.count : d]
    }

    /// Start of the data of a CPU tensor (nil on other devices). Valid while this Tensor is alive.
    public var unsafeDataPointer: UnsafeMutableRawPointer? { ct_data_ptr(handle) }

    /// Whether both tensors view the same storage.
    public func sharesStorage(with other: Tensor) -> Bool { ct_same_storage(handle, other.handle) }

    // MARK: Swift arrays

    /// Copies `values` into a new CPU tensor of the given shape.
    public convenience init<T: TensorElement>(_ values: [T], shape: [Int]) throws {
        let n = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }), n == values.count else {
            throw TorchError("shape \(shape) holds \(n) elements but \(values.count) values were given")
        }
        let h = values.withUnsafeBytes { raw in
            withInt64s(shape) { ct_from_buffer(raw.baseAddress, $0, $1, T.dtype.rawValue) }
        }
        guard let h else { throw TorchError.last() }
        self.init(owning: h)
    }

    /// A 1-D tensor of `values`.
    public convenience init<T: TensorElement>(_ values: [T]) throws {
        try self.init(values, shape: [values.count])
    }

    /// A 0-dim tensor.
    public convenience init(scalar: Double, dtype: DType = .float32, device: Device = .cpu) throws {
        let h = ct_full(nil, 0, scalar, dtype.rawValue, device.typeCode, device.index)
        guard let h else { throw TorchError.last() }
        self.init(owning: h)
    }

    /// The elements in row-major order, converted to `T`'s dtype (and copied to the CPU) as needed.
    public func toArray<T: TensorElement>(_ type: T.Type = T.self) throws -> [T] {
        let source = dtype == T.dtype ? self : try to(T.dtype)
        let n = count
        var out = [T]()
        out.reserveCapacity(n)
        try withUnsafeTemporaryAllocation(of: T.self, capacity: Swift.max(n, 1)) { buffer in
            try check(ct_copy_to_buffer(source.handle, buffer.baseAddress, n * MemoryLayout<T>.stride))
            out.append(contentsOf: buffer.prefix(n))
        }
        return out
    }

    /// The contiguous bytes of the tensor (on the CPU).
    public func bytes() throws -> [UInt8] {
        let n = count * dtype.elementSize
        var out = [UInt8](repeating: 0, count: n)
        try out.withUnsafeMutableBytes { try check(ct_copy_to_buffer(handle, $0.baseAddress, n)) }
        return out
    }

    /// The single value of a one-element tensor.
    public func item() throws -> Double {
        var v = 0.0
        try check(ct_item(handle, &v))
        return v
    }

    public func floats() throws -> [Float] { try toArray(Float.self) }
    public func doubles() throws -> [Double] { try toArray(Double.self) }
    public func ints() throws -> [Int] { try toArray(Int.self) }

    // MARK: Conversion

    public func to(_ dtype: DType) throws -> Tensor { try wrap(ct_to(handle, dtype.rawValue, -1, -1)) }
    public func to(_ device: Device) throws -> Tensor { try wrap(ct_to(handle, -1, device.typeCode, device.index)) }
    public func to(_ device: Device, _ dtype: DType) throws -> Tensor {
        try wrap(ct_to(handle, dtype.rawValue, device.typeCode, device.index))
    }
    /// To `device` without the host waiting for the copy (torch's `non_blocking=True`): from pinned memory the copy
    /// runs on the device's stream while the host goes on. Same as `to(device)` between CPU tensors.
    public func to(_ device: Device, nonBlocking: Bool) throws -> Tensor {
        nonBlocking ? try wrap(ct_to_non_blocking(handle, device.typeCode, device.index)) : try to(device)
    }
    /// A copy in page-locked host memory, which a GPU reads without a staging copy (needs CUDA).
    public func pinnedMemory() throws -> Tensor { try wrap(ct_pin_memory(handle)) }
    public var isPinned: Bool { ct_is_pinned(handle) }
    public func clone() throws -> Tensor { try wrap(ct_clone(handle)) }
    public func contiguous() throws -> Tensor { try wrap(ct_contiguous(handle)) }
}

extension Tensor: CustomStringConvertible {
    /// torch's own printout, e.g. for debugging in a REPL or a failing test.
    public var description: String {
        guard let p = ct_describe(handle) else { return "Tensor(\(shape), \(dtype))" }
        defer { ct_free_string(p) }
        return String(cString: p)
    }
}
