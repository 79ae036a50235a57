import CTorch

/// GELU variants: exact (erf) and the tanh approximation used by PixArt/DiT feed-forwards.
public enum GELUApproximation: Sendable { case none, tanh }

extension Tensor {
    @inline(__always) func unary(_ op: Int) throws -> Tensor { try wrap(ct_unary(Int32(op), handle)) }

    public func exp() throws -> Tensor { try unary(Int(CT_EXP)) }
    public func log() throws -> Tensor { try unary(Int(CT_LOG)) }
    public func log1p() throws -> Tensor { try unary(Int(CT_LOG1P)) }
    public func expm1() throws -> Tensor { try unary(Int(CT_EXPM1)) }
    public func sqrt() throws -> Tensor { try unary(Int(CT_SQRT)) }
    public func rsqrt() throws -> Tensor { try unary(Int(CT_RSQRT)) }
    public func abs() throws -> Tensor { try unary(Int(CT_ABS)) }
    public func sin() throws -> Tensor { try unary(Int(CT_SIN)) }
    public func cos() throws -> Tensor { try unary(Int(CT_COS)) }
    public func tanh() throws -> Tensor { try unary(Int(CT_TANH)) }
    public func erf() throws -> Tensor { try unary(Int(CT_ERF)) }
    public func square() throws -> Tensor { try unary(Int(CT_SQUARE)) }
    public func reciprocal() throws -> Tensor { try unary(Int(CT_RECIPROCAL)) }
    public func floor() throws -> Tensor { try unary(Int(CT_FLOOR)) }
    public func ceil() throws -> Tensor { try unary(Int(CT_CEIL)) }
    public func round() throws -> Tensor { try unary(Int(CT_ROUND)) }
    public func sign() throws -> Tensor { try unary(Int(CT_SIGN)) }
    public func isFinite() throws -> Tensor { try unary(Int(CT_ISFINITE)) }
    public func isNaN() throws -> Tensor { try unary(Int(CT_ISNAN)) }

    // Activations
    public func sigmoid() throws -> Tensor { try unary(Int(CT_SIGMOID)) }
    public func relu() throws -> Tensor { try unary(Int(CT_RELU)) }
    public func silu() throws -> Tensor { try unary(Int(CT_SILU)) }
    public func gelu(approximate: GELUApproximation = .none) throws -> Tensor {
        try unary(Int(approximate == .tanh ? CT_GELU_TANH : CT_GELU))
    }
    /// CLIP's x·σ(1.702x).
    public func quickGelu() throws -> Tensor { try unary(Int(CT_QUICK_GELU)) }
    public func softmax(dim: Int) throws -> Tensor { try wrap(ct_softmax(handle, Int64(dim))) }
    public func logSoftmax(dim: Int) throws -> Tensor { try wrap(ct_log_softmax(handle, Int64(dim))) }
}
