import Foundation
import Torch

/// The text-conditioned DiT of PixArt-α, numerically diffusers' `PixArtTransformer2DModel`: patchify with 2-D
/// sin-cos positions → N blocks (self-attention, cross-attention to the projected caption, feed-forward, all
/// modulated by adaLN-single) → final modulated norm → linear → unpatchify. With out_channels = 2 × in_channels
/// the second half of the output is the learned variance (learned sigma).
public final class PixArtTransformer2DModel: Module {
    public let config: PixArtTransformer2DConfig
    public let posEmbed: PatchEmbed
    public let transformerBlocks: [PixArtBlock]

    /// Every block's cross-attention adds its probabilities to `maps` (nil: stops recording). False when the model has
    /// no cross-attention (nothing to record).
    @discardableResult
    public func recordCrossAttention(into maps: CrossAttentionMaps?) -> Bool {
        var any = false
        for block in transformerBlocks {
            if let attn2 = block.attn2 { attn2.recorder = maps; any = true }
        }
        return any
    }
    public let normOut: LayerNorm
    @Parameter public var scaleShiftTable: Tensor  // [2, dim]
    public let projOut: Linear
    public let adalnSingle: AdaLayerNormSingle
    public let captionProjection: PixArtAlphaTextProjection?

    public static let weightsName = "diffusion_pytorch_model.safetensors"

    public init(_ config: PixArtTransformer2DConfig) throws {
        try config.validate()
        self.config = config
        let dim = config.innerDim
        posEmbed = try PatchEmbed(height: config.sampleSize, width: config.sampleSize, patchSize: config.patchSize,
                                  inChannels: config.inChannels, embedDim: dim,
                                  interpolationScale: config.resolvedInterpolationScale)
        let activation = FeedForward.Activation(rawValue: config.activationFn)!
        transformerBlocks = try (0..<config.numLayers).map { _ in
            try PixArtBlock(dim: dim, heads: config.numAttentionHeads, headDim: config.attentionHeadDim,
                            dropout: config.dropout, crossAttentionDim: config.crossAttentionDim,
                            activation: activation, attentionBias: config.attentionBias,
                            normElementwiseAffine: config.normElementwiseAffine, normEps: config.normEps)
        }
        normOut = LayerNorm([dim], eps: 1e-6, elementwiseAffine: false)
        scaleShiftTable = try Tensor.randn([2, dim]) / Double(dim).squareRoot()
        projOut = Linear(dim, config.patchSize * config.patchSize * config.resolvedOutChannels)
        adalnSingle = AdaLayerNormSingle(dim: dim, useAdditionalConditions: config.resolvedUseAdditionalConditions)
        captionProjection = config.captionChannels.map { PixArtAlphaTextProjection(inFeatures: $0, hiddenSize: dim) }
    }

    /// Predicts noise (or velocity, or the sample) for `hiddenStates` [B, C, H, W] at `timestep` ([B] or a
    /// scalar), attending to `encoderHiddenStates` [B, L, caption_channels]. Masks are [B, L] with 1 for tokens to
    /// attend and 0 for padding. `resolution` [B, 2] and `aspectRatio` [B, 1] are needed only by models with
    /// additional conditions (sample_size 128 by default).
    public func callAsFunction(_ hiddenStates: Tensor, encoderHiddenStates: Tensor?, timestep: Tensor,
                               encoderAttentionMask: Tensor? = nil, attentionMask: Tensor? = nil,
                               resolution: Tensor? = nil, aspectRatio: Tensor? = nil) throws -> Tensor {
        guard hiddenStates.rank == 4, hiddenStates.size(1) == config.inChannels else {
            throw ModelError("hidden_states must be [B, \(config.inChannels), H, W], got \(hiddenStates.shape)")
        }
        let p = config.patchSize
        guard hiddenStates.size(2) % p == 0, hiddenStates.size(3) % p == 0 else {
            throw ModelError("hidden_states height and width \(hiddenStates.shape.suffix(2)) must be multiples of patch_size \(p)")
        }
        if config.crossAttentionDim != nil && encoderHiddenStates == nil {
            throw ModelError("this model cross-attends to a caption: pass encoder_hidden_states")
        }
        let b = hiddenStates.size(0), dtype = hiddenStates.dtype
        let height = hiddenStates.size(2) / p, width = hiddenStates.size(3) / p
        // 1 = attend, 0 = padding → additive bias, as diffusers does (−10000, not −inf).
        func bias(_ mask: Tensor?) throws -> Tensor? {
            guard let mask, mask.rank == 2 else { return mask }
            return try ((1 - mask.to(dtype)) * -10000.0).unsqueezed(1)
        }
        let selfBias = try bias(attentionMask), captionBias = try bias(encoderAttentionMask)
        // Made contiguous: diffusers' residual adds put the block's output first, so its token stream is contiguous
        // after the first block, and every linear layer takes addmm; a transposed stream would send some through
        // matmul + add, which rounds once more in fp16 (the fp16 audit found it).
        var x = try posEmbed(hiddenStates).contiguous()
        let t = timestep.rank == 0 ? try timestep.reshaped(1).expanded([b]) : timestep
        let (modulation, embeddedTimestep) = try adalnSingle(t, resolution: resolution, aspectRatio: aspectRatio,
                                                             batchSize: b, dtype: dtype)
        var caption = encoderHiddenStates
        if let captionProjection, let c = caption {
            caption = try captionProjection(c).reshaped(b, -1, x.size(-1))
        }
        for block in transformerBlocks {
            x = try block(x, caption: caption, timestep: modulation, attentionMask: selfBias, captionMask: captionBias)
        }
        let m = try (scaleShiftTable.unsqueezed(0) + embeddedTimestep.unsqueezed(1)).chunked(2, dim: 1)
        x = try normOut(x) * (1 + m[1]) + m[0]
        x = try projOut(x)
        let c = config.resolvedOutChannels
        // Unpatchify: [B, h, w, p, p, C] → [B, C, h·p, w·p]
        return try x.reshaped(b, height, width, p, p, c).permuted(0, 5, 1, 3, 2, 4).reshaped(b, c, height * p, width * p)
    }

    // MARK: diffusers directories

    /// Loads a diffusers directory (config.json + diffusion_pytorch_model.safetensors, or shards).
    public static func load(from directory: URL, device: Device = .cpu, dtype: DType = .float32) throws
        -> PixArtTransformer2DModel
    {
        try ModelDirectory.loadModel(from: directory, weightsName: weightsName, device: device, dtype: dtype) {
            try PixArtTransformer2DModel(try PixArtTransformer2DConfig(contentsOf: $0))
        }
    }

    /// Writes a diffusers directory that `PixArtTransformer2DModel.from_pretrained` reads.
    public func save(to directory: URL) throws {
        try ModelDirectory.save(self, config: config.json, to: directory, weightsFilename: Self.weightsName)
    }
}
