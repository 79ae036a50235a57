import Core
import Foundation
import Torch

/// transformers' BertConfig (BERT and the MiniLM family, e.g. all-MiniLM-L6-v2).
public struct BertConfig: HFConfig, Equatable, Sendable {
    public var modelType = "bert"
    public var architectures = ["BertModel"]
    public var vocabSize = 30522
    public var hiddenSize = 768
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var intermediateSize = 3072
    public var hiddenAct = "gelu"
    public var maxPositionEmbeddings = 512
    public var typeVocabSize = 2
    public var layerNormEps = 1e-12
    public var padTokenId: Int? = 0
    public var positionEmbeddingType: String? = "absolute"
    public var unknownKeys: JSONObject = [:]

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case modelType = "model_type", architectures, vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case intermediateSize = "intermediate_size", hiddenAct = "hidden_act"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", padTokenId = "pad_token_id"
        case positionEmbeddingType = "position_embedding_type"
    }
    public static let keepsUnknownKeys = true

    public init() {}

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.oneOf(modelType, .modelType, ["bert"])
        r.oneOf(hiddenAct, .hiddenAct, ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"])
        r.oneOf(positionEmbeddingType ?? "absolute", .positionEmbeddingType, ["absolute"])
        r.within(1...(1 << 24), (vocabSize, .vocabSize), (hiddenSize, .hiddenSize), (intermediateSize, .intermediateSize),
                 (maxPositionEmbeddings, .maxPositionEmbeddings), (typeVocabSize, .typeVocabSize))
        r.within(0...1024, (numHiddenLayers, .numHiddenLayers))
        r.require((0..<vocabSize).contains(padTokenId ?? 0), .padTokenId,
                  "must be a token id below vocab_size, found \(padTokenId ?? 0)", inputs: [.vocabSize])
        r.require(numAttentionHeads > 0 && hiddenSize % numAttentionHeads == 0, .numAttentionHeads,
                  "\(numAttentionHeads) heads do not divide hidden_size \(hiddenSize)", inputs: [.hiddenSize])
        ModelBudget.check(allocatedElements, r, keys: [.vocabSize, .hiddenSize, .intermediateSize, .maxPositionEmbeddings,
                                                       .typeVocabSize, .numHiddenLayers])
    }

    /// An upper bound of the parameter and buffer elements the model allocates (the test holds it to within 2× of
    /// the real count): embeddings, per layer attention and feed-forward with their norms, the pooler.
    public var allocatedElements: Double {
        let h = Double(hiddenSize), i = Double(intermediateSize)
        let embeddings = Double(vocabSize + maxPositionEmbeddings + typeVocabSize) * h + 2 * h + 2 * Double(maxPositionEmbeddings)
        let layer = 4 * h * h + 2 * h * i + i + 10 * h
        return embeddings + Double(numHiddenLayers) * layer + h * h + h
    }
}

final class BertEmbeddings: Module {
    let wordEmbeddings: Embedding, positionEmbeddings: Embedding, tokenTypeEmbeddings: Embedding
    @Child var layerNorm: LayerNorm
    init(_ c: BertConfig) {
        wordEmbeddings = Embedding(c.vocabSize, c.hiddenSize, paddingIdx: c.padTokenId ?? 0)
        positionEmbeddings = Embedding(c.maxPositionEmbeddings, c.hiddenSize)
        tokenTypeEmbeddings = Embedding(c.typeVocabSize, c.hiddenSize)
        _layerNorm = Child(wrappedValue: LayerNorm(c.hiddenSize, eps: c.layerNormEps), "LayerNorm")
    }
}

final class BertSelfAttention: Module {
    let query: Linear, key: Linear, value: Linear
    init(_ c: BertConfig) {
        query = Linear(c.hiddenSize, c.hiddenSize)
        key = Linear(c.hiddenSize, c.hiddenSize)
        value = Linear(c.hiddenSize, c.hiddenSize)
    }
}

/// dense → (+ residual) → LayerNorm, the output sub-layer of BERT's attention and feed-forward.
final class BertResidualOutput: Module {
    let dense: Linear
    @Child var layerNorm: LayerNorm
    init(_ inFeatures: Int, _ c: BertConfig) {
        dense = Linear(inFeatures, c.hiddenSize)
        _layerNorm = Child(wrappedValue: LayerNorm(c.hiddenSize, eps: c.layerNormEps), "LayerNorm")
    }
    func callAsFunction(_ h: Tensor, residual: Tensor) throws -> Tensor { try layerNorm(try dense(h) + residual) }
}

final class BertAttention: Module {
    let selfAttention: BertSelfAttention
    let output: BertResidualOutput
    init(_ c: BertConfig) {
        selfAttention = BertSelfAttention(c)
        output = BertResidualOutput(c.hiddenSize, c)
    }
    override func namedChildren() -> [(String, Module)] { [("self", selfAttention), ("output", output)] }
}

final class BertIntermediate: Module {
    let dense: Linear
    init(_ c: BertConfig) { dense = Linear(c.hiddenSize, c.intermediateSize) }
}

final class BertLayer: Module {
    let attention: BertAttention, intermediate: BertIntermediate, output: BertResidualOutput
    let heads: Int, act: String
    init(_ c: BertConfig) {
        heads = c.numAttentionHeads
        act = c.hiddenAct
        attention = BertAttention(c)
        intermediate = BertIntermediate(c)
        output = BertResidualOutput(c.intermediateSize, c)
    }
    func callAsFunction(_ x: Tensor, mask: Tensor?) throws -> Tensor {
        let (b, n, d) = (x.size(0), x.size(1), x.size(2))
        func split(_ t: Tensor) throws -> Tensor { try t.reshaped(b, n, heads, d / heads).transposed(1, 2) }
        let s = attention.selfAttention
        let context = try F.scaledDotProductAttention(try split(s.query(x)), try split(s.key(x)), try split(s.value(x)),
                                                      mask: mask).transposed(1, 2).reshaped(b, n, d)
        let attended = try attention.output(context, residual: x)
        let inner = act == "relu" ? try intermediate.dense(attended).relu() : try activation(act, try intermediate.dense(attended))
        return try output(inner, residual: attended)
    }
}

final class BertEncoder: Module {
    let layer: [BertLayer]
    init(_ c: BertConfig) { layer = (0..<c.numHiddenLayers).map { _ in BertLayer(c) } }
}

final class BertPooler: Module {
    let dense: Linear
    init(_ c: BertConfig) { dense = Linear(c.hiddenSize, c.hiddenSize) }
}

/// BERT's encoder (transformers `BertModel`): word + position + token-type embeddings, post-LN layers with GELU,
/// and a tanh pooler over the first token. Loads the MiniLM sentence encoders too.
public final class BertModel: Module, CaptionEncoder {
    public var featureWidth: Int { config.hiddenSize }
    public func captionFeatures(ids: Tensor, mask: Tensor) throws -> Tensor {
        try self(ids, attentionMask: mask).lastHiddenState
    }

    public let config: BertConfig
    let embeddings: BertEmbeddings
    let encoder: BertEncoder
    let pooler: BertPooler

    public init(_ config: BertConfig) {
        self.config = config
        embeddings = BertEmbeddings(config)
        encoder = BertEncoder(config)
        pooler = BertPooler(config)
    }

    /// `inputIds` [B, L]; `attentionMask` [B, L] (1 = token, 0 = padding); `tokenTypeIds` default to 0.
    public func callAsFunction(_ inputIds: Tensor, attentionMask: Tensor? = nil, tokenTypeIds: Tensor? = nil) throws
        -> TextEncoderOutput
    {
        let (ids, positions) = try tokenPositions(inputIds, maxPositionEmbeddings: config.maxPositionEmbeddings)
        let (b, n) = (ids.size(0), ids.size(1))
        let types = try tokenTypeIds?.to(.int64) ?? Tensor.zeros([b, n], dtype: .int64, device: ids.device)
        var h = try embeddings.wordEmbeddings(ids) + embeddings.tokenTypeEmbeddings(types)
            + embeddings.positionEmbeddings(positions)
        h = try embeddings.layerNorm(h)
        // transformers adds (1 − mask)·min(float32) to the scores; a boolean mask gives the same softmax.
        let keep = try attentionMask.map { try $0.to(ids.device).ne(0).reshaped(b, 1, 1, n) }
        for layer in encoder.layer { h = try layer(h, mask: keep) }
        let pooled = try pooler.dense(try h.select(dim: 1, index: 0)).tanh()
        return TextEncoderOutput(lastHiddenState: h, poolerOutput: pooled)
    }

    /// sentence-transformers' mean pooling over real tokens followed by L2 normalisation (all-MiniLM-L6-v2).
    public func sentenceEmbedding(_ inputIds: Tensor, attentionMask: Tensor) throws -> Tensor {
        let h = try self(inputIds, attentionMask: attentionMask).lastHiddenState
        let m = try attentionMask.to(h.dtype).unsqueezed(-1)
        let mean = try (h * m).sum(dim: 1) / m.sum(dim: 1).clamp(min: 1e-9)
        return try mean / mean.square().sum(dim: 1, keepDim: true).sqrt().clamp(min: 1e-12)
    }

    public static func load(from directory: URL, device: Device = .cpu, dtype: DType = .float32) throws -> BertModel {
        let config = try BertConfig.load(directory.appendingPathComponent("config.json"))
        let model = BertModel(config)
        try TextEncoderWeights.load(into: model, from: directory, prefixes: ["bert."], device: device, dtype: dtype)
        return model
    }

    public func save(to directory: URL) throws {
        try ModelDirectory.save(self, config: config.json, to: directory, weightsFilename: TextEncoderWeights.weightsName)
    }
}
