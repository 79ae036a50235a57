import CTorch

extension Tensor {
    @inline(__always) func reduce(_ op: Int32, _ dims: [Int], _ keepDim: Bool) throws -> Tensor {
        try withInt64s(dims) { try wrap(ct_reduce(op, handle, $0, $1, keepDim)) }
    }

    /// Sum over `dims` (all dimensions when empty).
    public func sum(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(Int32(CT_SUM), dims, keepDim) }
    public func sum(dim: Int, keepDim: Bool = false) throws -> Tensor { try sum(dims: [dim], keepDim: keepDim) }
    public func mean(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor {
        try reduce(Int32(CT_MEAN), dims, keepDim)
    }
    public func mean(dim: Int, keepDim: Bool = false) throws -> Tensor { try mean(dims: [dim], keepDim: keepDim) }
    /// Maximum value over `dims` (torch.amax; all dimensions when empty).
    public func max(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor {
        try reduce(Int32(CT_AMAX), dims, keepDim)
    }
    public func min(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor {
        try reduce(Int32(CT_AMIN), dims, keepDim)
    }
    /// torch.max(x, dim): values and their indices.
    public func max(dim: Int, keepDim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        var v: OpaquePointer?
        var i: OpaquePointer?
        try check(ct_max_dim(handle, Int64(dim), keepDim, &v, &i))
        return (Tensor(owning: v!), Tensor(owning: i!))
    }
    public func prod(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor {
        try reduce(Int32(CT_PROD), dims, keepDim)
    }
    public func logsumexp(dims: [Int], keepDim: Bool = false) throws -> Tensor {
        try reduce(Int32(CT_LOGSUMEXP), dims, keepDim)
    }
    public func all(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(Int32(CT_ALL), dims, keepDim) }
    public func any(dims: [Int] = [], keepDim: Bool = false) throws -> Tensor { try reduce(Int32(CT_ANY), dims, keepDim) }
    /// Variance with Bessel's correction by default (`correction: 1`), like torch.var.
    public func variance(dims: [Int] = [], correction: Double = 1, keepDim: Bool = false) throws -> Tensor {
        try withInt64s(dims) { try wrap(ct_var(handle, $0, $1, correction, keepDim)) }
    }
    public func argmax(dim: Int? = nil, keepDim: Bool = false) throws -> Tensor {
        try wrap(ct_argmax(handle, Int64(dim ?? 0), dim != nil, keepDim))
    }
    /// The p-norm of all elements (torch.linalg.vector_norm).
    public func norm(_ p: Double = 2) throws -> Tensor { try wrap(ct_vector_norm(handle, p)) }
    public func cumsum(dim: Int) throws -> Tensor { try wrap(ct_cumsum(handle, Int64(dim))) }
    public func cumprod(dim: Int) throws -> Tensor { try wrap(ct_cumprod(handle, Int64(dim))) }
    /// The q-th quantile along `dim` with linear interpolation (torch.quantile).
    public func quantile(_ q: Double, dim: Int, keepDim: Bool = false) throws -> Tensor {
        try wrap(ct_quantile(handle, q, Int64(dim), keepDim))
    }
}
