import Core
import Foundation
import Models
import Tokenizers
import Torch

/// The trained networks of a run, as one module so optimizer, EMA and checkpoints see one set of keys:
/// `transformer.*` (the DiT) and, when it is trained jointly, `text_encoder.*`.
public final class DiffusionModels: Module {
    public let transformer: PixArtTransformer2DModel
    public let textEncoder: CLIPTextModel?

    public init(transformer: PixArtTransformer2DModel, textEncoder: CLIPTextModel?) {
        self.transformer = transformer
        self.textEncoder = textEncoder
    }

    /// The networks `config` describes: with a new CLIP-architecture text encoder sized for `tokenizer` (trained
    /// jointly), or, when captions come pre-encoded by a frozen encoder, a DiT reading `cachedTextDim` features.
    public convenience init(config: TrainConfig, tokenizer: Tokenizer, cachedTextDim: Int?) throws {
        var textEncoder: CLIPTextModel?
        var pixArt = config.pixArtConfig
        if config.textEncoder.type == .clip && config.textEncoder.path == nil {
            var c = CLIPTextConfig()
            c.vocabSize = tokenizer.vocabSize
            c.hiddenSize = config.textEncoder.hiddenSize
            c.intermediateSize = 4 * config.textEncoder.hiddenSize
            c.numHiddenLayers = config.textEncoder.numLayers
            c.numAttentionHeads = config.textEncoder.numHeads
            c.maxPositionEmbeddings = config.textEncoder.maxLength
            c.padTokenId = tokenizer.id(for: "<|pad|>") ?? 0
            c.bosTokenId = tokenizer.id(for: "<|startoftext|>") ?? 49406
            c.eosTokenId = tokenizer.id(for: "<|endoftext|>") ?? 49407
            textEncoder = CLIPTextModel(c)
            pixArt.captionChannels = c.hiddenSize
        } else if let cachedTextDim {
            pixArt.captionChannels = cachedTextDim
        }
        let transformer = try PixArtTransformer2DModel(pixArt)
        try transformer.initialize(config.training.initialization)
        self.init(transformer: transformer, textEncoder: textEncoder)
    }

    /// Caption features for the DiT: the jointly trained encoder's last hidden state, or cached frozen features.
    public func captionFeatures(ids: Tensor, mask: Tensor, cached: Tensor?) throws -> Tensor {
        if let textEncoder { return try textEncoder(ids, attentionMask: mask).lastHiddenState }
        guard let cached else { throw SamplingError("no text encoder and no cached text embeddings") }
        return cached
    }
}

