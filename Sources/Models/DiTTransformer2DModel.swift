import Core
import Foundation
import Torch

/// The config.json of a diffusers `DiTTransformer2DModel`. Keys and defaults are diffusers'; as for PixArt, the keys
/// that fix the architecture's shapes are required in a file, so a truncated file is an error rather than a silently
/// different model. `norm_num_groups` is kept for the round trip but unused (diffusers ignores it too), and so is
/// `upcast_attention` (diffusers' default attention processor, scaled_dot_product_attention, ignores it).
public struct DiTTransformer2DConfig: HFConfig, Equatable, Sendable {
    public var className = Self.className
    public var diffusersVersion = "0.42.1"
    public var numAttentionHeads = 16, attentionHeadDim = 72
    public var inChannels = 4
    public var outChannels: Int? = nil  // nil: in_channels; 2 × in_channels: the second half is the learned Σ
    public var numLayers = 28
    public var dropout = 0.0
    public var normNumGroups = 32
    public var attentionBias = true
    public var sampleSize = 32, patchSize = 2
    public var activationFn = "gelu-approximate"
    public var numEmbedsAdaNorm: Int? = 1000  // the number of classes (1000 for ImageNet)
    public var upcastAttention = false
    public var normType = "ada_norm_zero"
    public var normElementwiseAffine = false, normEps = 1e-5  // of norm3 only; adaLN's own norms are fixed

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case className = "_class_name", diffusersVersion = "_diffusers_version"
        case numAttentionHeads = "num_attention_heads", attentionHeadDim = "attention_head_dim"
        case inChannels = "in_channels", outChannels = "out_channels", numLayers = "num_layers", dropout
        case normNumGroups = "norm_num_groups", attentionBias = "attention_bias", sampleSize = "sample_size"
        case patchSize = "patch_size", activationFn = "activation_fn", numEmbedsAdaNorm = "num_embeds_ada_norm"
        case upcastAttention = "upcast_attention", normType = "norm_type"
        case normElementwiseAffine = "norm_elementwise_affine", normEps = "norm_eps"
    }
    public static let requiredKeys: [CodingKeys] = [.numAttentionHeads, .attentionHeadDim, .inChannels, .outChannels,
                                                    .numLayers, .sampleSize, .patchSize]
    public static let className = "DiTTransformer2DModel"

    public init() {}

    public init(numAttentionHeads: Int = 16, attentionHeadDim: Int = 72, inChannels: Int = 4, outChannels: Int? = nil,
                numLayers: Int = 28, sampleSize: Int = 32, patchSize: Int = 2, numEmbedsAdaNorm: Int? = 1000) {
        (self.numAttentionHeads, self.attentionHeadDim, self.inChannels, self.outChannels) =
            (numAttentionHeads, attentionHeadDim, inChannels, outChannels)
        (self.numLayers, self.sampleSize, self.patchSize, self.numEmbedsAdaNorm) =
            (numLayers, sampleSize, patchSize, numEmbedsAdaNorm)
    }

    public var innerDim: Int { numAttentionHeads * attentionHeadDim }
    public var resolvedOutChannels: Int { outChannels ?? inChannels }

    public init(contentsOf url: URL) throws { self = try Self.load(url) }

    /// Checks the values that diffusers would reject or that cannot form a model; sizes are bounded before any
    /// allocation.
    public func check(_ r: ConfigRules<CodingKeys>) {
        r.oneOf(className, .className, [Self.className])
        r.within(1...4096, (numAttentionHeads, .numAttentionHeads), (attentionHeadDim, .attentionHeadDim))
        r.within(1...65536, (inChannels, .inChannels), (outChannels, .outChannels), (sampleSize, .sampleSize))
        // ≥ 1 layer: the final layer reads block 0's conditioning embedding (diffusers keeps no other).
        r.within(1...4096, (numLayers, .numLayers))
        r.within(1...1024, (patchSize, .patchSize))
        r.within(1...(1 << 24), (numEmbedsAdaNorm, .numEmbedsAdaNorm))
        r.require(sampleSize % patchSize == 0, .sampleSize, "\(sampleSize) is not a multiple of patch_size \(patchSize)",
                  inputs: [.patchSize])
        r.require(innerDim % 4 == 0, .attentionHeadDim, "the width heads × head_dim = \(innerDim) must be divisible by 4 "
            + "for the 2-D position embedding", inputs: [.numAttentionHeads])
        r.oneOf(normType, .normType, ["ada_norm_zero"])
        r.require(numEmbedsAdaNorm != nil, .numEmbedsAdaNorm,
                  "must not be null with ada_norm_zero (it is the number of classes)")
        r.oneOf(activationFn, .activationFn, FeedForward.Activation.allCases.map(\.rawValue))
        r.number(dropout, .dropout, .halfOpenUnit)
        r.number(normEps, .normEps, .openUnit)
        ModelBudget.check(allocatedElements, r, keys: [.numAttentionHeads, .attentionHeadDim, .inChannels, .outChannels,
                                                       .numLayers, .sampleSize, .patchSize, .numEmbedsAdaNorm])
    }

    /// An upper bound of the parameter and buffer elements the model allocates (the test holds it to within 2× of
    /// the real count): per block attention, a geglu-sized feed-forward and its own adaLN-zero with timestep and
    /// class embeddings; patch embedding, the 2-D position table and the output layers.
    public var allocatedElements: Double {
        let d = Double(innerDim), p = Double(patchSize), classes = Double((numEmbedsAdaNorm ?? 0) + 1)
        let conditioning = 256 * d + d * d + classes * d + 6 * d * d
        let block = 4 * d * d + (activationFn == "geglu" ? 12 : 8) * d * d + conditioning + 20 * d
        let tokens = Double(sampleSize / max(patchSize, 1)) * Double(sampleSize / max(patchSize, 1))
        let embed = Double(inChannels) * p * p * d + tokens * d + d
        return Double(numLayers) * block + embed + 2 * d * d + d * p * p * Double(resolvedOutChannels) + 4 * d
    }
}

/// The paper's initialisation of the modulation and output layers (diffusers keeps PyTorch's default; loaded weights
/// replace either).
@discardableResult private func zeroInit(_ layer: Linear) throws -> Linear {
    try withNoGrad {
        try layer.weight.zero_()
        try layer.bias?.zero_()
    }
    return layer
}

/// Class labels → vectors (diffusers `LabelEmbedding`). The table has one extra row, index `numClasses`: the "null"
/// class that classifier-free guidance uses for the unconditional prediction.
public final class LabelEmbedding: Module {
    public let embeddingTable: Embedding  // [numClasses + 1, dim]
    init(numClasses: Int, dim: Int) { embeddingTable = Embedding(numClasses + 1, dim) }
    func callAsFunction(_ labels: Tensor) throws -> Tensor { try embeddingTable(labels) }
}

/// The conditioning vector c = embed(t) + embed(y) (diffusers `CombinedTimestepLabelEmbeddings`).
public final class CombinedTimestepLabelEmbeddings: Module {
    public let timestepEmbedder: TimestepEmbedding
    public let classEmbedder: LabelEmbedding
    init(numClasses: Int, dim: Int) {
        timestepEmbedder = TimestepEmbedding(inChannels: 256, timeEmbedDim: dim)
        classEmbedder = LabelEmbedding(numClasses: numClasses, dim: dim)
    }
    func callAsFunction(_ t: Tensor, _ labels: Tensor, dtype: DType) throws -> Tensor {
        // 256 frequencies, cos first, spaced by 1/(half − 1) (downscale_freq_shift 1; PixArt's are 1/half).
        let features = try timestepEmbedding(t, dim: 256, flipSinToCos: true, downscaleFreqShift: 1).to(dtype)
        return try timestepEmbedder(features) + classEmbedder(labels)
    }
}

/// adaLN-Zero: regresses shift, scale and gate for both sub-layers from c (Linear on SiLU(c)). diffusers gives every
/// block its own timestep MLP and label table (`emb`); the paper shares one of each.
public final class AdaLayerNormZero: Module {
    public let emb: CombinedTimestepLabelEmbeddings
    public let linear: Linear  // dim → 6·dim
    public let norm: LayerNorm  // no affine, eps 1e-6, whatever norm_eps says
    init(dim: Int, numClasses: Int) {
        emb = CombinedTimestepLabelEmbeddings(numClasses: numClasses, dim: dim)
        linear = Linear(dim, 6 * dim)
        norm = LayerNorm([dim], eps: 1e-6, elementwiseAffine: false)
    }
    /// [shiftMSA, scaleMSA, gateMSA, shiftMLP, scaleMLP, gateMLP], each [B, 1, dim].
    func modulation(_ t: Tensor, _ labels: Tensor, dtype: DType) throws -> [Tensor] {
        try linear(emb(t, labels, dtype: dtype).silu()).unsqueezed(1).chunked(6, dim: 2)
    }
}

/// DiT block with adaLN-Zero (diffusers `BasicTransformerBlock`, norm_type "ada_norm_zero"): self-attention and
/// feed-forward, each on a modulated norm and scaled by a gate. The gates start at zero in the paper, so each block
/// starts as the identity.
public final class DiTBlock: Module {
    public let norm1: AdaLayerNormZero
    public let attn1: Attention
    public let norm3: LayerNorm
    public let ff: FeedForward

    init(_ c: DiTTransformer2DConfig) throws {
        let dim = c.innerDim
        norm1 = AdaLayerNormZero(dim: dim, numClasses: c.numEmbedsAdaNorm!)
        try zeroInit(norm1.linear)  // adaLN-Zero: every modulation starts at 0, so both gates are 0
        attn1 = Attention(queryDim: dim, heads: c.numAttentionHeads, dimHead: c.attentionHeadDim, dropout: c.dropout,
                          bias: c.attentionBias)
        norm3 = LayerNorm([dim], eps: c.normEps, elementwiseAffine: c.normElementwiseAffine)
        ff = FeedForward(dim: dim, dropout: c.dropout, activation: FeedForward.Activation(rawValue: c.activationFn)!)
    }

    func callAsFunction(_ x: Tensor, timestep t: Tensor, classLabels y: Tensor) throws -> Tensor {
        let m = try norm1.modulation(t, y, dtype: x.dtype)
        let (shiftMSA, scaleMSA, gateMSA, shiftMLP, scaleMLP, gateMLP) = (m[0], m[1], m[2], m[3], m[4], m[5])
        let x = try x + gateMSA * attn1(norm1.norm(x) * (1 + scaleMSA) + shiftMSA)
        return try x + gateMLP * ff(norm3(x) * (1 + scaleMLP) + shiftMLP)
    }
}

/// The class-conditional DiT of Peebles & Xie (2023), numerically diffusers' `DiTTransformer2DModel`: patchify with
/// 2-D sin-cos positions → N adaLN-Zero blocks conditioned on c = embed(t) + embed(y) → final layer (norm modulated
/// by c, linear) → unpatchify. With out_channels = 2 × in_channels the second half is the learned Σ.
public final class DiTTransformer2DModel: Module {
    public let config: DiTTransformer2DConfig
    public let posEmbed: PatchEmbed
    public let transformerBlocks: [DiTBlock]
    public let normOut: LayerNorm
    @Child var projOut1: Linear  // c → (shift, scale) of the final norm
    @Child var projOut2: Linear  // dim → p·p·out_channels

    public static let weightsName = "diffusion_pytorch_model.safetensors"
    /// Training drops a label to the null class with this probability (diffusers' fixed class_dropout_prob).
    public static let classDropoutProb = 0.1

    public init(_ config: DiTTransformer2DConfig) throws {
        try config.validate()
        self.config = config
        let dim = config.innerDim, p = config.patchSize
        posEmbed = try PatchEmbed(height: config.sampleSize, width: config.sampleSize, patchSize: p,
                                  inChannels: config.inChannels, embedDim: dim, interpolationScale: 1)
        transformerBlocks = try (0..<config.numLayers).map { _ in try DiTBlock(config) }
        normOut = LayerNorm([dim], eps: 1e-6, elementwiseAffine: false)
        // The paper zeroes the final layer too: a new model predicts 0.
        _projOut1 = Child(wrappedValue: try zeroInit(Linear(dim, 2 * dim)), "proj_out_1")
        _projOut2 = Child(wrappedValue: try zeroInit(Linear(dim, p * p * config.resolvedOutChannels)), "proj_out_2")
    }

    /// Predicts noise (and Σ) for latents `hiddenStates` [B, C, H, H] at `timestep` ([B] or a scalar) for
    /// `classLabels` [B] (integers; `num_embeds_ada_norm` is the null class). In training mode each label becomes the
    /// null class with probability 0.1, once per sample for all blocks (diffusers draws again in every block).
    public func callAsFunction(_ hiddenStates: Tensor, timestep: Tensor, classLabels: Tensor) throws -> Tensor {
        let p = config.patchSize
        guard hiddenStates.rank == 4, hiddenStates.size(1) == config.inChannels else {
            throw ModelError("hidden_states must be [B, \(config.inChannels), H, W], got \(hiddenStates.shape)")
        }
        // diffusers unpatchifies with height = width = √tokens, so it takes square inputs only.
        guard hiddenStates.size(2) == hiddenStates.size(3), hiddenStates.size(2) % p == 0 else {
            throw ModelError("hidden_states must be square, its side a multiple of patch_size \(p); got \(hiddenStates.shape)")
        }
        let b = hiddenStates.size(0)
        guard classLabels.shape == [b], !classLabels.dtype.isFloatingPoint else {
            throw ModelError("class_labels must be [\(b)] integers, got \(classLabels.shape) \(classLabels.dtype)")
        }
        let t = timestep.rank == 0 ? try timestep.reshaped(1).expanded([b]) : timestep
        guard t.shape == [b] else { throw ModelError("timestep must be a scalar or [\(b)], got \(timestep.shape)") }
        var y = classLabels
        if training {  // classifier-free guidance: learn the unconditional prediction too
            let drop = try Tensor.rand([b], device: y.device).lt(Self.classDropoutProb)
            y = try y.maskedFill(drop, Double(config.numEmbedsAdaNorm!))
        }
        // Made contiguous: diffusers' residual adds put the block's output first, so its token stream is contiguous
        // after the first block, and every linear layer takes addmm; a transposed stream would send some through
        // matmul + add, which rounds once more in fp16 (the fp16 audit found it).
        var x = try posEmbed(hiddenStates).contiguous()
        for block in transformerBlocks { x = try block(x, timestep: t, classLabels: y) }
        // Final layer: the norm is modulated (shift, scale; no gate) by c from block 0's embedding, as diffusers does.
        let c = try transformerBlocks[0].norm1.emb(t, y, dtype: x.dtype)
        let m = try projOut1(c.silu()).unsqueezed(1).chunked(2, dim: 2)
        x = try projOut2(normOut(x) * (1 + m[1]) + m[0])
        let h = hiddenStates.size(2) / p, w = h, channels = config.resolvedOutChannels
        // Unpatchify: [B, h, w, p, p, C] → [B, C, h·p, w·p]
        return try x.reshaped(b, h, w, p, p, channels).permuted(0, 5, 1, 3, 2, 4).reshaped(b, channels, h * p, w * p)
    }

    // MARK: diffusers directories

    /// Loads a diffusers directory (config.json + diffusion_pytorch_model.safetensors, or shards) in eval mode, as
    /// `from_pretrained` does (call `train()` to fine-tune: training mode drops labels).
    public static func load(from directory: URL, device: Device = .cpu, dtype: DType = .float32) throws
        -> DiTTransformer2DModel
    {
        let model = try ModelDirectory.loadModel(from: directory, weightsName: weightsName, device: device,
                                                 dtype: dtype) {
            try DiTTransformer2DModel(try DiTTransformer2DConfig(contentsOf: $0))
        }
        model.eval()
        return model
    }

    /// Writes a diffusers directory that `DiTTransformer2DModel.from_pretrained` reads.
    public func save(to directory: URL) throws {
        try ModelDirectory.save(self, config: config.json, to: directory, weightsFilename: Self.weightsName)
    }
}
