import Core
import Foundation
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

    /// Checks the values that diffusers would reject or that cannot form a model; sizes are bounded before any
    /// allocation.
    public func check(_ r: ConfigRules<CodingKeys>) {
        r.oneOf(className, .className, [Self.className])
        r.within(1...4096, (numAttentionHeads, .numAttentionHeads), (attentionHeadDim, .attentionHeadDim))
        r.within(1...(1 << 16), (inChannels, .inChannels), (outChannels, .outChannels), (sampleSize, .sampleSize),
                 (captionChannels, .captionChannels), (crossAttentionDim, .crossAttentionDim))
        r.within(0...4096, (numLayers, .numLayers))
        r.within(1...1024, (patchSize, .patchSize))
        r.require(sampleSize % patchSize == 0, .sampleSize, "\(sampleSize) is not a multiple of patch_size \(patchSize)",
                  inputs: [.patchSize])
        r.require(innerDim % 4 == 0, .attentionHeadDim, "the width heads × head_dim = \(innerDim) must be divisible by 4 "
            + "for the 2-D position embedding", inputs: [.numAttentionHeads])
        r.oneOf(normType, .normType, ["ada_norm_single"])
        r.require(numEmbedsAdaNorm != nil, .numEmbedsAdaNorm, "must not be null with ada_norm_single")
        r.oneOf(activationFn, .activationFn, FeedForward.Activation.allCases.map(\.rawValue))
        r.oneOf(attentionType, .attentionType, ["default"])
        r.number(dropout, .dropout, .halfOpenUnit)
        r.number(normEps, .normEps, .openUnit)
        if let s = interpolationScale { r.require(s > 0 && s < 1e6, .interpolationScale, "must be in (0, 1e6), found \(s)") }
        ModelBudget.check(allocatedElements, r, keys: [.numAttentionHeads, .attentionHeadDim, .inChannels, .outChannels,
                                                       .numLayers, .sampleSize, .patchSize, .captionChannels,
                                                       .crossAttentionDim])
    }

    /// An upper bound of the parameter and buffer elements the model allocates (the test holds it to within 2× of
    /// the real count): blocks of self- and cross-attention and a 4× feed-forward, patch embedding, the 2-D position
    /// table, adaLN-single with its optional size embedders, the caption projection and the output layer.
    public var allocatedElements: Double {
        let d = Double(innerDim), c = Double(crossAttentionDim ?? 0), p = Double(patchSize)
        let ff = (activationFn == "geglu" ? 12 : 8) * d * d
        let block = 4 * d * d + 2 * d * d + 2 * d * c + ff + 20 * d
        let tokens = Double(sampleSize / max(patchSize, 1)) * Double(sampleSize / max(patchSize, 1))
        let conditions = resolvedUseAdditionalConditions ? 2 * (256 * d + d * d + 2 * d) : 0
        let embed = Double(inChannels) * p * p * d + tokens * d + 256 * d + 7 * d * d + 8 * d + conditions
        let caption = Double(captionChannels ?? 0) * d + d * d + 2 * d
        return Double(numLayers) * block + embed + caption + d * p * p * Double(resolvedOutChannels) + 4 * d
    }
}
