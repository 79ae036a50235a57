import Torch

/// Cross-attention probabilities collected while a model runs (DAAM's aggregation, Tang et al. 2022): for every
/// image position and caption token, the softmax weight averaged over heads, summed over layers and calls. Hand one
/// to `PixArtTransformer2DModel.recordCrossAttention(into:)`; the attention output itself is unchanged.
public final class CrossAttentionMaps {
    /// [B, N image tokens, L caption tokens], float32, summed; nil before the first call.
    public private(set) var sum: Tensor?
    /// How many attention calls (layers × steps) were summed.
    public private(set) var calls = 0

    public init() {}

    /// Adds one layer's probabilities [B, heads, N, L] (their mean over heads).
    func add(_ probabilities: Tensor) throws {
        let mean = try probabilities.to(.float32).mean(dims: [1])
        sum = try sum.map { try $0 + mean } ?? mean
        calls += 1
    }

    /// The average over every recorded call, [B, N, L].
    public var average: Tensor? {
        get throws { try sum.map { try $0 / Double(max(1, calls)) } }
    }
}
