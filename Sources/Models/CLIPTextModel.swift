import Core
import Foundation
import Torch

/// transformers' CLIPTextConfig (the text half of a CLIP config.json, or a CLIPTextModel's own).
public struct CLIPTextConfig: HFConfig, Equatable, Sendable {
    public var modelType = "clip_text_model"
    public var architectures = ["CLIPTextModel"]
    public var vocabSize = 49408
    public var hiddenSize = 512
    public var intermediateSize = 2048
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    public var maxPositionEmbeddings = 77
    public var hiddenAct = "quick_gelu"
    public var layerNormEps = 1e-5
    public var projectionDim = 512
    public var padTokenId = 1, bosTokenId = 49406, eosTokenId = 49407
    public var unknownKeys: JSONObject = [:]

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case modelType = "model_type", architectures, vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps", projectionDim = "projection_dim"
        case padTokenId = "pad_token_id", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
    }
    public static let keepsUnknownKeys = true

    public init() {}

    /// A CLIPTextModel's config.json, or the `text_config` of a full CLIPModel's.
    public init(contentsOf url: URL) throws {
        if case .object(let root) = try JSONValue.parse([UInt8](Data(contentsOf: url))),
           case .object(let text)? = root["text_config"] {
            self = try Self(text, file: url.path + " (text_config)")
        } else {
            self = try Self.load(url)
        }
    }

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.oneOf(modelType, .modelType, ["clip_text_model", "clip"])
        r.oneOf(hiddenAct, .hiddenAct, ["quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh"])
        r.within(1...(1 << 24), (vocabSize, .vocabSize), (hiddenSize, .hiddenSize), (intermediateSize, .intermediateSize),
                 (maxPositionEmbeddings, .maxPositionEmbeddings))
        r.within(0...1024, (numHiddenLayers, .numHiddenLayers))
        r.require(numAttentionHeads > 0 && hiddenSize % numAttentionHeads == 0, .numAttentionHeads,
                  "\(numAttentionHeads) heads do not divide hidden_size \(hiddenSize)", inputs: [.hiddenSize])
        ModelBudget.check(allocatedElements, r, keys: [.vocabSize, .hiddenSize, .intermediateSize, .maxPositionEmbeddings,
                                                       .numHiddenLayers])
    }

    /// An upper bound of the parameter and buffer elements the model allocates (the test holds it to within 2× of
    /// the real count): token and position embeddings, per layer attention and MLP with their norms, the final norm.
    public var allocatedElements: Double {
        let h = Double(hiddenSize), i = Double(intermediateSize)
        let embeddings = Double(vocabSize + maxPositionEmbeddings) * h + Double(maxPositionEmbeddings)
        return embeddings + Double(numHiddenLayers) * (4 * h * h + 2 * h * i + i + 9 * h) + 2 * h
    }
}

/// A text encoder whose last hidden state conditions the DiT: CLIP's (as Stable Diffusion) or BERT's (MiniLM).
public protocol CaptionEncoder: Module {
    /// Per-token caption features [B, L, D] (the last hidden state) for token ids and their attention mask.
    func captionFeatures(ids: Tensor, mask: Tensor) throws -> Tensor
    /// D, the width of the features.
    var featureWidth: Int { get }
}

/// The output of a text encoder: per-token features and one pooled vector per sequence.
public struct TextEncoderOutput {
    public let lastHiddenState: Tensor
    public let poolerOutput: Tensor
}

func activation(_ name: String, _ x: Tensor) throws -> Tensor {
    switch name {
    case "quick_gelu": try x.quickGelu()
    case "gelu_new", "gelu_pytorch_tanh": try x.gelu(approximate: .tanh)
    default: try x.gelu()
    }
}

final class CLIPAttention: Module {
    let kProj: Linear, vProj: Linear, qProj: Linear, outProj: Linear
    let heads: Int
    init(_ c: CLIPTextConfig) {
        heads = c.numAttentionHeads
        kProj = Linear(c.hiddenSize, c.hiddenSize)
        vProj = Linear(c.hiddenSize, c.hiddenSize)
        qProj = Linear(c.hiddenSize, c.hiddenSize)
        outProj = Linear(c.hiddenSize, c.hiddenSize)
    }
    func callAsFunction(_ x: Tensor, mask: Tensor) throws -> Tensor {
        let (b, n, d) = (x.size(0), x.size(1), x.size(2))
        func split(_ t: Tensor) throws -> Tensor { try t.reshaped(b, n, heads, d / heads).transposed(1, 2) }
        let y = try F.scaledDotProductAttention(try split(qProj(x)), try split(kProj(x)), try split(vProj(x)), mask: mask)
        return try outProj(try y.transposed(1, 2).reshaped(b, n, d))
    }
}

final class CLIPMLP: Module {
    let fc1: Linear, fc2: Linear
    let act: String
    init(_ c: CLIPTextConfig) {
        act = c.hiddenAct
        fc1 = Linear(c.hiddenSize, c.intermediateSize)
        fc2 = Linear(c.intermediateSize, c.hiddenSize)
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor { try fc2(try activation(act, try fc1(x))) }
}

final class CLIPEncoderLayer: Module {
    let selfAttn: CLIPAttention
    @Child var layerNorm1: LayerNorm
    let mlp: CLIPMLP
    @Child var layerNorm2: LayerNorm
    init(_ c: CLIPTextConfig) {
        selfAttn = CLIPAttention(c)
        _layerNorm1 = Child(wrappedValue: LayerNorm(c.hiddenSize, eps: c.layerNormEps), "layer_norm1")
        mlp = CLIPMLP(c)
        _layerNorm2 = Child(wrappedValue: LayerNorm(c.hiddenSize, eps: c.layerNormEps), "layer_norm2")
    }
    func callAsFunction(_ x: Tensor, mask: Tensor) throws -> Tensor {
        let h = try x + selfAttn(try layerNorm1(x), mask: mask)
        return try h + mlp(try layerNorm2(h))
    }
}

final class CLIPEncoder: Module {
    let layers: [CLIPEncoderLayer]
    init(_ c: CLIPTextConfig) { layers = (0..<c.numHiddenLayers).map { _ in CLIPEncoderLayer(c) } }
}

final class CLIPTextEmbeddings: Module {
    let tokenEmbedding: Embedding, positionEmbedding: Embedding
    init(_ c: CLIPTextConfig) {
        tokenEmbedding = Embedding(c.vocabSize, c.hiddenSize)
        positionEmbedding = Embedding(c.maxPositionEmbeddings, c.hiddenSize)
    }
}

/// CLIP's text transformer (transformers `CLIPTextModel`): causal pre-LN layers with quick-GELU; the pooled output
/// is the final state at the end-of-text token. Keys are saved with transformers' `text_model.` prefix.
public final class CLIPTextModel: Module, CaptionEncoder {
    public var featureWidth: Int { config.hiddenSize }
    public func captionFeatures(ids: Tensor, mask: Tensor) throws -> Tensor {
        try self(ids, attentionMask: mask).lastHiddenState
    }

    public let config: CLIPTextConfig
    let textModel: CLIPTextTransformer

    public init(_ config: CLIPTextConfig) {
        self.config = config
        textModel = CLIPTextTransformer(config)
    }

    /// `inputIds` [B, L] int64; `attentionMask` [B, L] with 1 for tokens and 0 for padding.
    public func callAsFunction(_ inputIds: Tensor, attentionMask: Tensor? = nil) throws -> TextEncoderOutput {
        try textModel(inputIds, attentionMask: attentionMask)
    }

    public static func load(from directory: URL, device: Device = .cpu, dtype: DType = .float32) throws -> CLIPTextModel {
        let config = try CLIPTextConfig(contentsOf: directory.appendingPathComponent("config.json"))
        let model = CLIPTextModel(config)
        try TextEncoderWeights.load(into: model, from: directory, prefixes: ["text_model."],
                                    otherParts: ["vision_model.", "visual_projection.", "text_projection.", "logit_scale"],
                                    device: device, dtype: dtype)
        return model
    }

    public func save(to directory: URL) throws {
        try ModelDirectory.save(self, config: config.json, to: directory, weightsFilename: TextEncoderWeights.weightsName)
    }
}

final class CLIPTextTransformer: Module {
    let config: CLIPTextConfig
    let embeddings: CLIPTextEmbeddings
    let encoder: CLIPEncoder
    let finalLayerNorm: LayerNorm

    init(_ c: CLIPTextConfig) {
        config = c
        embeddings = CLIPTextEmbeddings(c)
        encoder = CLIPEncoder(c)
        finalLayerNorm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
    }

    func callAsFunction(_ inputIds: Tensor, attentionMask: Tensor?) throws -> TextEncoderOutput {
        let (ids, positions) = try tokenPositions(inputIds, maxPositionEmbeddings: config.maxPositionEmbeddings)
        let (b, n) = (ids.size(0), ids.size(1))
        var h = try embeddings.tokenEmbedding(ids) + embeddings.positionEmbedding(positions)
        // Causal, and no attention to padding (true = may attend).
        var keep = try Tensor.ones([n, n], dtype: .bool, device: ids.device).tril().unsqueezed(0).unsqueezed(0)
        if let attentionMask {
            keep = try keep.logicalAnd(try attentionMask.to(ids.device).ne(0).reshaped(b, 1, 1, n))
        }
        for layer in encoder.layers { h = try layer(h, mask: keep) }
        h = try finalLayerNorm(h)
        let eosPositions = config.eosTokenId == 2
            ? try ids.to(.int32).argmax(dim: -1)
            : try ids.eq(Double(config.eosTokenId)).to(.int32).argmax(dim: -1)
        let pooled = try h.gather(dim: 1, index: eosPositions.reshaped(b, 1, 1).expanded([b, 1, h.size(2)])).squeezed(1)
        return TextEncoderOutput(lastHiddenState: h, poolerOutput: pooled)
    }
}
