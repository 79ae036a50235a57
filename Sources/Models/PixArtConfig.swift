import Foundation
import Support
import Torch

/// The config.json of a diffusers `PixArtTransformer2DModel`. Keys and defaults are diffusers'; the keys that
/// fix the architecture's shapes are required, so a truncated file is an error rather than a silently different
/// model.
public struct PixArtTransformer2DConfig: HFConfig, Equatable, Sendable {
    public var className = Self.className
    public var diffusersVersion = "0.42.1"
    public var numAttentionHeads = 16
    public var attentionHeadDim = 72
    public var inChannels = 4
    public var outChannels: Int? = nil
    public var numLayers = 28
    public var dropout = 0.0
    public var normNumGroups = 32
    public var crossAttentionDim: Int? = 1152
    public var attentionBias = true
    public var sampleSize = 128
    public var patchSize = 2
    public var activationFn = "gelu-approximate"
    public var numEmbedsAdaNorm: Int? = 1000
    public var upcastAttention = false
    public var normType = "ada_norm_single"
    public var normElementwiseAffine = false
    public var normEps = 1e-6
    public var interpolationScale: Double? = nil
    public var useAdditionalConditions: Bool? = nil
    public var captionChannels: Int? = nil
    public var attentionType = "default"

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case className = "_class_name", diffusersVersion = "_diffusers_version"
        case numAttentionHeads = "num_attention_heads", attentionHeadDim = "attention_head_dim"
        case inChannels = "in_channels", outChannels = "out_channels", numLayers = "num_layers", dropout
        case normNumGroups = "norm_num_groups", crossAttentionDim = "cross_attention_dim"
        case attentionBias = "attention_bias", sampleSize = "sample_size", patchSize = "patch_size"
        case activationFn = "activation_fn", numEmbedsAdaNorm = "num_embeds_ada_norm"
        case upcastAttention = "upcast_attention", normType = "norm_type"
        case normElementwiseAffine = "norm_elementwise_affine", normEps = "norm_eps"
        case interpolationScale = "interpolation_scale", useAdditionalConditions = "use_additional_conditions"
        case captionChannels = "caption_channels", attentionType = "attention_type"
    }
    public static let requiredKeys: [CodingKeys] = [.numAttentionHeads, .attentionHeadDim, .inChannels, .outChannels,
                                                    .numLayers, .sampleSize, .patchSize]
    public static let className = "PixArtTransformer2DModel"

    public init() {}

    public init(numAttentionHeads: Int, attentionHeadDim: Int, inChannels: Int, outChannels: Int? = nil,
                numLayers: Int, sampleSize: Int, patchSize: Int, crossAttentionDim: Int? = 1152,
                captionChannels: Int? = nil) {
        self.numAttentionHeads = numAttentionHeads
        self.attentionHeadDim = attentionHeadDim
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.numLayers = numLayers
        self.sampleSize = sampleSize
        self.patchSize = patchSize
        self.crossAttentionDim = crossAttentionDim
        self.captionChannels = captionChannels
    }

    // Derived values, as diffusers computes them in __init__.
    public var innerDim: Int { numAttentionHeads * attentionHeadDim }
    public var resolvedOutChannels: Int { outChannels ?? inChannels }
    public var resolvedInterpolationScale: Double { interpolationScale ?? Double(max(sampleSize / 64, 1)) }
    public var resolvedUseAdditionalConditions: Bool { useAdditionalConditions ?? (sampleSize == 128) }

    public init(contentsOf url: URL) throws { self = try Self.load(url) }

    /// Checks the values that diffusers would reject or that cannot form a model.
    public func validate(file: String = "config.json") throws {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(file: file, key: key, message) }
        guard className == Self.className else { throw fail("_class_name", "'\(className)' is not \(Self.className)") }
        guard (1...4096).contains(numAttentionHeads) else { throw fail("num_attention_heads", "must be in 1...4096, got \(numAttentionHeads)") }
        guard (1...4096).contains(attentionHeadDim) else { throw fail("attention_head_dim", "must be in 1...4096, got \(attentionHeadDim)") }
        guard (1...1 << 16).contains(inChannels), (1...1 << 16).contains(sampleSize), numLayers <= 4096 else {
            throw fail("in_channels", "in_channels, sample_size and num_layers must be reasonable sizes")
        }
        if let o = outChannels, o > 1 << 16 { throw fail("out_channels", "must be at most 65536, got \(o)") }
        if let c = captionChannels, c > 1 << 24 { throw fail("caption_channels", "must be at most \(1 << 24), got \(c)") }
        if let c = crossAttentionDim, c > 1 << 24 { throw fail("cross_attention_dim", "must be at most \(1 << 24), got \(c)") }
        guard inChannels > 0 else { throw fail("in_channels", "must be positive, got \(inChannels)") }
        if let o = outChannels, o <= 0 { throw fail("out_channels", "must be positive, got \(o)") }
        guard numLayers >= 0 else { throw fail("num_layers", "must be >= 0, got \(numLayers)") }
        guard patchSize > 0 else { throw fail("patch_size", "must be positive, got \(patchSize)") }
        guard sampleSize > 0, sampleSize % patchSize == 0 else {
            throw fail("sample_size", "\(sampleSize) is not a positive multiple of patch_size \(patchSize)")
        }
        guard innerDim % 4 == 0 else {
            throw fail("attention_head_dim", "the width heads × head_dim = \(innerDim) must be divisible by 4 for the 2-D position embedding")
        }
        guard normType == "ada_norm_single" else {
            throw fail("norm_type", "'\(normType)' is not supported (PixArtTransformer2DModel needs 'ada_norm_single')")
        }
        guard numEmbedsAdaNorm != nil else { throw fail("num_embeds_ada_norm", "must not be null with ada_norm_single") }
        guard FeedForward.Activation(rawValue: activationFn) != nil else {
            throw fail("activation_fn", "'\(activationFn)' is not supported (expected one of: "
                + FeedForward.Activation.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        guard attentionType == "default" else {
            throw fail("attention_type", "'\(attentionType)' is not supported (expected 'default')")
        }
        guard (0..<1).contains(dropout) else { throw fail("dropout", "must be in [0, 1), got \(dropout)") }
        if let c = crossAttentionDim, c <= 0 { throw fail("cross_attention_dim", "must be positive, got \(c)") }
        if let c = captionChannels, c <= 0 { throw fail("caption_channels", "must be positive, got \(c)") }
        if let s = interpolationScale, !(s > 0 && s < 1e6) { throw fail("interpolation_scale", "must be in (0, 1e6), got \(s)") }
    }
}
