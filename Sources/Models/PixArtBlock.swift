import Torch

/// PixArt-α transformer block (diffusers `BasicTransformerBlock` with norm_type "ada_norm_single"):
/// self-attention, cross-attention to the caption, feed-forward. The timestep modulates the self-attention and
/// feed-forward norms through adaLN-single: one shared MLP (in the model) plus this block's `scale_shift_table`.
public final class PixArtBlock: Module {
    public let norm1: LayerNorm
    public let attn1: Attention
    public let norm2: LayerNorm
    public let attn2: Attention?
    public let ff: FeedForward
    @Parameter public var scaleShiftTable: Tensor  // [6, dim]
    let dim: Int

    public init(dim: Int, heads: Int, headDim: Int, dropout: Double, crossAttentionDim: Int?,
                activation: FeedForward.Activation, attentionBias: Bool, normElementwiseAffine: Bool, normEps: Double)
        throws
    {
        self.dim = dim
        norm1 = LayerNorm([dim], eps: normEps, elementwiseAffine: normElementwiseAffine)
        attn1 = Attention(queryDim: dim, heads: heads, dimHead: headDim, dropout: dropout, bias: attentionBias)
        norm2 = LayerNorm([dim], eps: normEps, elementwiseAffine: normElementwiseAffine)
        attn2 = crossAttentionDim.map {
            Attention(queryDim: dim, crossAttentionDim: $0, heads: heads, dimHead: headDim, dropout: dropout,
                      bias: attentionBias)
        }
        ff = FeedForward(dim: dim, dropout: dropout, activation: activation)
        scaleShiftTable = try Tensor.randn([6, dim]) / Double(dim).squareRoot()
    }

    /// `timestep` is adaLN-single's [B, 6·dim] output; masks are additive biases ([B, 1, L]).
    public func callAsFunction(_ x: Tensor, caption: Tensor?, timestep t: Tensor, attentionMask: Tensor? = nil,
                               captionMask: Tensor? = nil) throws -> Tensor {
        let b = x.size(0)
        let m = try (scaleShiftTable.unsqueezed(0) + t.reshaped(b, 6, -1)).chunked(6, dim: 1)
        let (shiftMSA, scaleMSA, gateMSA, shiftMLP, scaleMLP, gateMLP) = (m[0], m[1], m[2], m[3], m[4], m[5])
        var x = try x + gateMSA * attn1(norm1(x) * (1 + scaleMSA) + shiftMSA, mask: attentionMask)
        if let attn2 {
            x = try x + attn2(x, context: caption, mask: captionMask)
        }
        return try x + gateMLP * ff(norm2(x) * (1 + scaleMLP) + shiftMLP)
    }
}

/// adaLN-single (PixArt-α): embeds the timestep (plus, optionally, resolution and aspect ratio) once per model and
/// maps it to the 6·dim modulation that every block shifts by its own table.
public final class AdaLayerNormSingle: Module {
    public let emb: CombinedTimestepSizeEmbeddings
    public let linear: Linear

    public init(dim: Int, useAdditionalConditions: Bool) {
        emb = CombinedTimestepSizeEmbeddings(dim: dim, sizeEmbedDim: dim / 3,
                                             useAdditionalConditions: useAdditionalConditions)
        linear = Linear(dim, 6 * dim)
    }

    /// Returns (modulation [B, 6·dim], embedded timestep [B, dim]).
    public func callAsFunction(_ timestep: Tensor, resolution: Tensor?, aspectRatio: Tensor?, batchSize: Int,
                               dtype: DType) throws -> (Tensor, Tensor) {
        let embedded = try emb(timestep, resolution: resolution, aspectRatio: aspectRatio, batchSize: batchSize,
                               dtype: dtype)
        return (try linear(embedded.silu()), embedded)
    }
}

/// diffusers `PixArtAlphaCombinedTimestepSizeEmbeddings`.
public final class CombinedTimestepSizeEmbeddings: Module {
    public let timestepEmbedder: TimestepEmbedding
    public let resolutionEmbedder: TimestepEmbedding?
    public let aspectRatioEmbedder: TimestepEmbedding?

    init(dim: Int, sizeEmbedDim: Int, useAdditionalConditions: Bool) {
        timestepEmbedder = TimestepEmbedding(inChannels: 256, timeEmbedDim: dim)
        resolutionEmbedder = useAdditionalConditions ? TimestepEmbedding(inChannels: 256, timeEmbedDim: sizeEmbedDim) : nil
        aspectRatioEmbedder = useAdditionalConditions ? TimestepEmbedding(inChannels: 256, timeEmbedDim: sizeEmbedDim) : nil
    }

    func callAsFunction(_ timestep: Tensor, resolution: Tensor?, aspectRatio: Tensor?, batchSize: Int,
                        dtype: DType) throws -> Tensor {
        func project(_ t: Tensor) throws -> Tensor {
            try timestepEmbedding(t, dim: 256, flipSinToCos: true, downscaleFreqShift: 0)
        }
        let t = try timestepEmbedder(try project(timestep).to(dtype))
        guard let resolutionEmbedder, let aspectRatioEmbedder else { return t }
        guard let resolution, let aspectRatio else {
            throw ModelError("this model uses additional conditions: pass `resolution` [B, 2] and `aspect_ratio` [B, 1]")
        }
        let r = try resolutionEmbedder(try project(resolution.flattened()).to(dtype)).reshaped(batchSize, -1)
        let a = try aspectRatioEmbedder(try project(aspectRatio.flattened()).to(dtype)).reshaped(batchSize, -1)
        return try t + Tensor.cat([r, a], dim: 1)
    }
}
