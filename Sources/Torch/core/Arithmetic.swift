import CTorch

// Element-wise arithmetic with broadcasting. Operators throw: a shape mismatch is torch's error, as a Swift error.

extension Tensor {
    @inline(__always) func binary(_ op: Int, _ other: Tensor) throws -> Tensor {
        try wrap(ct_binary(Int32(op), handle, other.handle))
    }
    @inline(__always) func binary(_ op: Int, _ s: Double) throws -> Tensor {
        try wrap(ct_binary_scalar(Int32(op), handle, s))
    }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(Int(CT_ADD), b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(Int(CT_SUB), b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(Int(CT_MUL), b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(Int(CT_DIV), b) }
    public static func + (a: Tensor, s: Double) throws -> Tensor { try a.binary(Int(CT_ADD), s) }
    public static func - (a: Tensor, s: Double) throws -> Tensor { try a.binary(Int(CT_SUB), s) }
    public static func * (a: Tensor, s: Double) throws -> Tensor { try a.binary(Int(CT_MUL), s) }
    public static func / (a: Tensor, s: Double) throws -> Tensor { try a.binary(Int(CT_DIV), s) }
    public static func + (s: Double, a: Tensor) throws -> Tensor { try a.binary(Int(CT_ADD), s) }
    public static func - (s: Double, a: Tensor) throws -> Tensor { try a.binary(Int(CT_RSUB), s) }
    public static func * (s: Double, a: Tensor) throws -> Tensor { try a.binary(Int(CT_MUL), s) }
    public static func / (s: Double, a: Tensor) throws -> Tensor { try a.binary(Int(CT_RDIV), s) }
    public static prefix func - (a: Tensor) throws -> Tensor { try a.unary(Int(CT_NEG)) }

    public func pow(_ e: Tensor) throws -> Tensor { try binary(Int(CT_POW), e) }
    public func pow(_ e: Double) throws -> Tensor { try binary(Int(CT_POW), e) }
    public func maximum(_ o: Tensor) throws -> Tensor { try binary(Int(CT_MAXIMUM), o) }
    public func minimum(_ o: Tensor) throws -> Tensor { try binary(Int(CT_MINIMUM), o) }
    public func remainder(_ o: Double) throws -> Tensor { try binary(Int(CT_REMAINDER), o) }
    public func atan2(_ o: Tensor) throws -> Tensor { try binary(Int(CT_ATAN2), o) }

    // Comparisons return bool tensors.
    public func eq(_ o: Tensor) throws -> Tensor { try binary(Int(CT_EQ), o) }
    public func ne(_ o: Tensor) throws -> Tensor { try binary(Int(CT_NE), o) }
    public func lt(_ o: Tensor) throws -> Tensor { try binary(Int(CT_LT), o) }
    public func le(_ o: Tensor) throws -> Tensor { try binary(Int(CT_LE), o) }
    public func gt(_ o: Tensor) throws -> Tensor { try binary(Int(CT_GT), o) }
    public func ge(_ o: Tensor) throws -> Tensor { try binary(Int(CT_GE), o) }
    public func eq(_ s: Double) throws -> Tensor { try binary(Int(CT_EQ), s) }
    public func ne(_ s: Double) throws -> Tensor { try binary(Int(CT_NE), s) }
    public func lt(_ s: Double) throws -> Tensor { try binary(Int(CT_LT), s) }
    public func le(_ s: Double) throws -> Tensor { try binary(Int(CT_LE), s) }
    public func gt(_ s: Double) throws -> Tensor { try binary(Int(CT_GT), s) }
    public func ge(_ s: Double) throws -> Tensor { try binary(Int(CT_GE), s) }
    public func logicalAnd(_ o: Tensor) throws -> Tensor { try binary(Int(CT_LOGICAL_AND), o) }
    public func logicalOr(_ o: Tensor) throws -> Tensor { try binary(Int(CT_LOGICAL_OR), o) }
    public func logicalNot() throws -> Tensor { try unary(Int(CT_LOGICAL_NOT)) }

    /// `cond ? a : b` element-wise.
    public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try wrap(ct_where(cond.handle, a.handle, b.handle))
    }
    public func clamp(min lo: Double? = nil, max hi: Double? = nil) throws -> Tensor {
        try wrap(ct_clamp(handle, lo ?? 0, hi ?? 0, lo != nil, hi != nil))
    }
    public func maskedFill(_ mask: Tensor, _ value: Double) throws -> Tensor {
        try wrap(ct_masked_fill(handle, mask.handle, value))
    }
    /// self + weight * (end - self).
    public func lerp(_ end: Tensor, _ weight: Tensor) throws -> Tensor {
        try wrap(ct_lerp(handle, end.handle, weight.handle))
    }

    /// self + value·t1·t2 in one kernel (one autograd node instead of two): the adaLN modulation
    /// x·(1 + scale) + shift and the gated residual x + gate·y are both this shape.
    public func addcmul(_ t1: Tensor, _ t2: Tensor, value: Double = 1) throws -> Tensor {
        try wrap(ct_addcmul(handle, t1.handle, t2.handle, value))
    }

    // MARK: In place (no new tensor; used by optimizers, EMA, gradient clipping)

    public func add_(_ o: Tensor) throws { try check(ct_binary_(Int32(CT_ADD), handle, o.handle)) }
    public func sub_(_ o: Tensor) throws { try check(ct_binary_(Int32(CT_SUB), handle, o.handle)) }
    public func mul_(_ o: Tensor) throws { try check(ct_binary_(Int32(CT_MUL), handle, o.handle)) }
    public func div_(_ o: Tensor) throws { try check(ct_binary_(Int32(CT_DIV), handle, o.handle)) }
    public func add_(_ s: Double) throws { try check(ct_binary_scalar_(Int32(CT_ADD), handle, s)) }
    public func mul_(_ s: Double) throws { try check(ct_binary_scalar_(Int32(CT_MUL), handle, s)) }
    public func div_(_ s: Double) throws { try check(ct_binary_scalar_(Int32(CT_DIV), handle, s)) }
    public func copy_(_ src: Tensor) throws { try check(ct_copy_(handle, src.handle)) }
    public func fill_(_ v: Double) throws { try check(ct_fill_(handle, v)) }
    public func zero_() throws { try check(ct_zero_(handle)) }
    public func lerp_(_ end: Tensor, _ weight: Double) throws { try check(ct_lerp_(handle, end.handle, weight)) }
    public func addcmul_(_ t1: Tensor, _ t2: Tensor, value: Double = 1) throws {
        try check(ct_addcmul_(handle, t1.handle, t2.handle, value))
    }
    public func addcdiv_(_ t1: Tensor, _ t2: Tensor, value: Double = 1) throws {
        try check(ct_addcdiv_(handle, t1.handle, t2.handle, value))
    }
}
