import Foundation
import Support
import Torch

/// The config.json of a diffusers `PixArtTransformer2DModel`. Keys and defaults are diffusers'; the keys that
/// fix the architecture's shapes are required, so a truncated file is an error rather than a silently different
/// model.
public struct PixArtTransformer2DConfig: Equatable, Sendable {
    public var numAttentionHeads: Int
    public var attentionHeadDim: Int
    public var inChannels: Int
    public var outChannels: Int?
    public var numLayers: Int
    public var dropout: Double = 0
    public var normNumGroups: Int = 32
    public var crossAttentionDim: Int? = 1152
    public var attentionBias: Bool = true
    public var sampleSize: Int
    public var patchSize: Int
    public var activationFn: String = "gelu-approximate"
    public var numEmbedsAdaNorm: Int? = 1000
    public var upcastAttention: Bool = false
    public var normType: String = "ada_norm_single"
    public var normElementwiseAffine: Bool = false
    public var normEps: Double = 1e-6
    public var interpolationScale: Double? = nil
    public var useAdditionalConditions: Bool? = nil
    public var captionChannels: Int? = nil
    public var attentionType: String = "default"

    public static let className = "PixArtTransformer2DModel"

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

    public init(_ c: JSONConfig) throws {
        numAttentionHeads = try c.int("num_attention_heads")
        attentionHeadDim = try c.int("attention_head_dim")
        inChannels = try c.int("in_channels")
        guard c.values["out_channels"] != nil else {
            throw ConfigError(file: c.file, key: "out_channels", "missing (expected an integer, or null for in_channels)")
        }
        outChannels = try c.optionalInt("out_channels")
        numLayers = try c.int("num_layers")
        dropout = try c.double("dropout", default: 0)
        normNumGroups = try c.int("norm_num_groups", default: 32)
        crossAttentionDim = try c.optionalInt("cross_attention_dim", default: 1152)
        attentionBias = try c.bool("attention_bias", default: true)
        sampleSize = try c.int("sample_size")
        patchSize = try c.int("patch_size")
        activationFn = try c.string("activation_fn", default: "gelu-approximate")
        numEmbedsAdaNorm = try c.optionalInt("num_embeds_ada_norm", default: 1000)
        upcastAttention = try c.bool("upcast_attention", default: false)
        normType = try c.string("norm_type", default: "ada_norm_single")
        normElementwiseAffine = try c.bool("norm_elementwise_affine", default: false)
        normEps = try c.double("norm_eps", default: 1e-6)
        interpolationScale = try c.optionalDouble("interpolation_scale")
        useAdditionalConditions = try c.optionalBool("use_additional_conditions")
        captionChannels = try c.optionalInt("caption_channels")
        attentionType = try c.optionalString("attention_type", default: "default") ?? "default"
        if let name = try c.optionalString("_class_name"), name != Self.className {
            throw ConfigError(file: c.file, key: "_class_name", "'\(name)' is not \(Self.className)")
        }
        try validate(file: c.file)
    }

    public init(contentsOf url: URL) throws { try self.init(JSONConfig(contentsOf: url)) }

    /// Checks the values that diffusers would reject or that cannot form a model.
    public func validate(file: String = "config.json") throws {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(file: file, key: key, message) }
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

    /// The config.json diffusers writes for this model (every __init__ key).
    public var json: JSONValue {
        func int(_ v: Int?) -> JSONValue { v.map { .integer($0) } ?? .null }
        return .object([
            "_class_name": .string(Self.className),
            "_diffusers_version": .string("0.42.1"),
            "num_attention_heads": .integer(numAttentionHeads),
            "attention_head_dim": .integer(attentionHeadDim),
            "in_channels": .integer(inChannels),
            "out_channels": int(outChannels),
            "num_layers": .integer(numLayers),
            "dropout": .double(dropout),
            "norm_num_groups": .integer(normNumGroups),
            "cross_attention_dim": int(crossAttentionDim),
            "attention_bias": .bool(attentionBias),
            "sample_size": .integer(sampleSize),
            "patch_size": .integer(patchSize),
            "activation_fn": .string(activationFn),
            "num_embeds_ada_norm": int(numEmbedsAdaNorm),
            "upcast_attention": .bool(upcastAttention),
            "norm_type": .string(normType),
            "norm_elementwise_affine": .bool(normElementwiseAffine),
            "norm_eps": .double(normEps),
            "interpolation_scale": interpolationScale.map { $0 == $0.rounded() ? .integer(Int($0)) : .double($0) } ?? .null,
            "use_additional_conditions": useAdditionalConditions.map { .bool($0) } ?? .null,
            "caption_channels": int(captionChannels),
            "attention_type": .string(attentionType),
        ])
    }
}
