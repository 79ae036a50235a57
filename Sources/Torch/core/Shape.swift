import CTorch

extension Tensor {
    public func reshaped(_ shape: [Int]) throws -> Tensor {
        try withInt64s(shape) { try wrap(ct_reshape(handle, $0, $1)) }
    }
    public func reshaped(_ shape: Int...) throws -> Tensor { try reshaped(shape) }
    /// Like `reshaped`, but never copies (fails on incompatible strides, as torch's view does).
    public func view(_ shape: [Int]) throws -> Tensor { try withInt64s(shape) { try wrap(ct_view(handle, $0, $1)) } }
    public func expanded(_ shape: [Int]) throws -> Tensor {
        try withInt64s(shape) { try wrap(ct_expand(handle, $0, $1)) }
    }
    public func repeated(_ repeats: [Int]) throws -> Tensor {
        try withInt64s(repeats) { try wrap(ct_repeat(handle, $0, $1)) }
    }
    public func permuted(_ dims: [Int]) throws -> Tensor {
        try withInt64s(dims) { try wrap(ct_permute(handle, $0, $1)) }
    }
    public func permuted(_ dims: Int...) throws -> Tensor { try permuted(dims) }
    public func transposed(_ d0: Int, _ d1: Int) throws -> Tensor {
        try wrap(ct_transpose(handle, Int64(d0), Int64(d1)))
    }
    public func squeezed(_ dim: Int) throws -> Tensor { try wrap(ct_squeeze(handle, Int64(dim))) }
    public func unsqueezed(_ dim: Int) throws -> Tensor { try wrap(ct_unsqueeze(handle, Int64(dim))) }
    public func flattened(from start: Int = 0, to end: Int = -1) throws -> Tensor {
        try wrap(ct_flatten(handle, Int64(start), Int64(end)))
    }

    public static func cat(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        try withHandles(tensors) { try wrap(ct_cat($0, $1, Int64(dim))) }
    }
    public static func stack(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        try withHandles(tensors) { try wrap(ct_stack($0, $1, Int64(dim))) }
    }

    /// Up to `chunks` pieces of (nearly) equal size along `dim`, like torch.chunk.
    public func chunked(_ chunks: Int, dim: Int = 0) throws -> [Tensor] {
        guard chunks > 0 else { throw TorchError("chunk expects chunks > 0, got \(chunks)") }
        var out = [OpaquePointer?](repeating: nil, count: chunks)
        let n = out.withUnsafeMutableBufferPointer { ct_chunk(handle, Int64(chunks), Int64(dim), $0.baseAddress) }
        if n < 0 { throw TorchError.last() }
        return out.prefix(Int(n)).map { Tensor(owning: $0!) }
    }
    /// Pieces of the given sizes along `dim` (torch.split with a list).
    public func split(sizes: [Int], dim: Int = 0) throws -> [Tensor] {
        var out = [OpaquePointer?](repeating: nil, count: sizes.count)
        let n = withInt64s(sizes) { p, c in
            out.withUnsafeMutableBufferPointer { ct_split(handle, p, c, Int64(dim), $0.baseAddress) }
        }
        if n < 0 { throw TorchError.last() }
        return out.prefix(Int(n)).map { Tensor(owning: $0!) }
    }
    /// Pieces of `size` along `dim` (the last one may be smaller).
    public func split(size: Int, dim: Int = 0) throws -> [Tensor] {
        guard size > 0 else { throw TorchError("split expects size > 0, got \(size)") }
        let total = self.size(dim)
        let sizes = stride(from: 0, to: total, by: size).map { Swift.min(size, total - $0) }
        return try split(sizes: sizes, dim: dim)
    }

    /// `x[start:end:step]` along `dim`; `end` nil means to the end.
    public func slice(dim: Int, start: Int = 0, end: Int? = nil, step: Int = 1) throws -> Tensor {
        try wrap(ct_slice(handle, Int64(dim), Int64(start), Int64(end ?? Int(Int64.max)), Int64(step)))
    }
    /// `x[..., index, ...]` at `dim`, removing that dimension.
    public func select(dim: Int, index: Int) throws -> Tensor {
        try wrap(ct_select(handle, Int64(dim), Int64(index)))
    }
    public subscript(index: Int) -> Tensor {
        get throws { try select(dim: 0, index: index) }
    }
    public subscript(range: Range<Int>) -> Tensor {
        get throws { try slice(dim: 0, start: range.lowerBound, end: range.upperBound) }
    }
    public func indexSelect(dim: Int, index: Tensor) throws -> Tensor {
        try wrap(ct_index_select(handle, Int64(dim), index.handle))
    }
    public func gather(dim: Int, index: Tensor) throws -> Tensor {
        try wrap(ct_gather(handle, Int64(dim), index.handle))
    }
    public func tril(_ k: Int = 0) throws -> Tensor { try wrap(ct_tril(handle, Int64(k))) }
    public func triu(_ k: Int = 0) throws -> Tensor { try wrap(ct_triu(handle, Int64(k))) }
    public func flipped(_ dims: [Int]) throws -> Tensor { try withInt64s(dims) { try wrap(ct_flip(handle, $0, $1)) } }
}
