import Torch

/// Multi-head attention with diffusers' layout and names: to_q, to_k, to_v, to_out.0 (+ to_out.1 dropout).
/// Self-attention when `context` is nil, cross-attention to `context` otherwise (diffusers `Attention` with
/// `AttnProcessor2_0`, i.e. scaled_dot_product_attention).
public final class Attention: Module {
    public let toQ: Linear, toK: Linear, toV: Linear
    @Child public var toOut: Linear  // diffusers' to_out.0 (to_out.1 is the dropout)
    let dropout: Dropout
    public let heads: Int
    /// While set, a cross-attention call also computes its probabilities and adds them here (`dit explain attention`).
    public var recorder: CrossAttentionMaps?

    public init(queryDim: Int, crossAttentionDim: Int? = nil, heads: Int, dimHead: Int, dropout: Double = 0,
                bias: Bool = false, outBias: Bool = true) {
        let inner = heads * dimHead
        self.heads = heads
        toQ = Linear(queryDim, inner, bias: bias)
        toK = Linear(crossAttentionDim ?? queryDim, inner, bias: bias)
        toV = Linear(crossAttentionDim ?? queryDim, inner, bias: bias)
        _toOut = Child(wrappedValue: Linear(inner, queryDim, bias: outBias), "to_out.0")
        self.dropout = Dropout(dropout)
    }

    /// `x` [B, N, C]; `context` [B, L, C']; `mask` an additive bias broadcastable to [B, heads, N, L]
    /// (diffusers passes [B, 1, L] with −10000 at padding).
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil, mask: Tensor? = nil) throws -> Tensor {
        let source = context ?? x
        let b = x.size(0)
        func split(_ t: Tensor) throws -> Tensor {
            try t.reshaped(b, -1, heads, t.size(-1) / heads).transposed(1, 2)
        }
        let q = try split(toQ(x)), k = try split(toK(source)), v = try split(toV(source))
        var bias = mask
        if let m = mask, m.rank == 3 { bias = try m.unsqueezed(1) }  // [B, 1, L] → [B, 1, 1, L]
        // Float masks are additive biases (in the query's dtype); bool masks mean "may attend" and stay bool.
        if let m = bias, m.dtype.isFloatingPoint { bias = try m.to(q.dtype) }
        let y = try F.scaledDotProductAttention(q, k, v, mask: bias)
        if let recorder, context != nil {
            // The weights SDPA used, computed apart (SDPA does not return them): softmax(q·kᵀ/√d + bias).
            var logits = try q.matmul(k.transposed(-2, -1)) / Double(q.size(-1)).squareRoot()
            if let m = bias {
                logits = m.dtype == .bool ? try logits.maskedFill(try m.logicalNot(), -Double.infinity) : try logits + m
            }
            try recorder.add(try logits.softmax(dim: -1))
        }
        let merged = try y.transposed(1, 2).reshaped(b, -1, y.size(1) * y.size(3))
        return try dropout(toOut(merged))
    }
}

/// The position-wise MLP of a transformer block, as diffusers' `FeedForward`: net.0 is the activation with its
/// input projection (GELU, GELU-tanh, GEGLU or the sigmoid approximation), net.1 dropout, net.2 the output Linear.
public final class FeedForward: Module {
    public enum Activation: String, Sendable, CaseIterable {
        case gelu = "gelu", geluApproximate = "gelu-approximate", geglu = "geglu",
            gegluApproximate = "geglu-approximate"
    }
    // diffusers' net.0, net.1 (dropout, no weights) and net.2.
    @Child var activation: ActivationProjection
    let dropout: Dropout
    @Child var output: Linear

    public init(dim: Int, dimOut: Int? = nil, mult: Int = 4, innerDim: Int? = nil, dropout: Double = 0,
                activation: Activation, bias: Bool = true) {
        let inner = innerDim ?? dim * mult
        _activation = Child(wrappedValue: ActivationProjection(dim, inner, activation, bias: bias), "net.0")
        self.dropout = Dropout(dropout)
        _output = Child(wrappedValue: Linear(inner, dimOut ?? dim, bias: bias), "net.2")
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try output(dropout(activation(x)))
    }
}

/// Linear projection followed by the activation (diffusers' GELU / GEGLU / ApproximateGELU modules).
public final class ActivationProjection: Module {
    public let proj: Linear
    let kind: FeedForward.Activation

    init(_ dimIn: Int, _ dimOut: Int, _ kind: FeedForward.Activation, bias: Bool) {
        self.kind = kind
        proj = Linear(dimIn, kind == .geglu ? dimOut * 2 : dimOut, bias: bias)
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let h = try proj(x)
        switch kind {
        case .gelu: return try h.gelu()
        case .geluApproximate: return try h.gelu(approximate: .tanh)
        case .geglu:
            let parts = try h.chunked(2, dim: -1)
            return try parts[0] * parts[1].gelu()
        case .gegluApproximate: return try h * (h * 1.702).sigmoid()
        }
    }
}
