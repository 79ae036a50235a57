import Foundation
import Models
import Schedulers
import Support
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
        self.init(transformer: try PixArtTransformer2DModel(pixArt), textEncoder: textEncoder)
    }

    /// Caption features for the DiT: the jointly trained encoder's last hidden state, or cached frozen features.
    public func captionFeatures(ids: Tensor, mask: Tensor, cached: Tensor?) throws -> Tensor {
        if let textEncoder { return try textEncoder(ids, attentionMask: mask).lastHiddenState }
        guard let cached else { throw TorchError("no text encoder and no cached text embeddings") }
        return cached
    }
}

/// The noise process a config trains with, the sampler it generates with, and the frozen parts it samples through.
public enum DiffusionSetup {
    /// The VAE that decodes latents to images and the frozen text encoder that encodes prompts (both nil in pixel
    /// space with a jointly trained encoder), on `device`.
    public static func frozenParts(_ c: TrainConfig, device: Device) throws
        -> (vae: AutoencoderKL?, textEncoder: (any CaptionEncoder)?) {
        let vae = try c.vae.map { try AutoencoderKL.load(from: URL(fileURLWithPath: $0.path), device: device) }
        var encoder: (any CaptionEncoder)?
        if let path = c.textEncoder.path {
            let dir = URL(fileURLWithPath: path)
            encoder = c.textEncoder.type == .minilm ? try BertModel.load(from: dir, device: device)
                : try CLIPTextModel.load(from: dir, device: device)
        }
        return (vae, encoder)
    }

    public static func trainingScheduler(_ c: TrainConfig) throws -> any NoiseScheduler {
        try scheduler(c, className: c.scheduler.objective == .flow ? FlowMatchEulerDiscreteScheduler.className
                                                                    : DDPMScheduler.className)
    }

    public static func sampler(_ c: TrainConfig, override: TrainConfig.Sampler? = nil) throws -> any NoiseScheduler {
        let kind = override ?? c.run.sampler
        switch kind {
        case .euler:
            guard c.scheduler.objective == .flow else { throw TorchError("the euler sampler needs the flow objective") }
            return try scheduler(c, className: FlowMatchEulerDiscreteScheduler.className)
        case .ddim, .ddpm, .dpmSolver:
            guard c.scheduler.objective != .flow else { throw TorchError("a flow model samples with --sampler euler") }
            if kind == .dpmSolver {
                var dpm = DPMSolverMultistepSchedulerConfig()
                (dpm.numTrainTimesteps, dpm.betaSchedule) = (c.scheduler.numTrainTimesteps, c.scheduler.betaSchedule)
                dpm.predictionType = c.scheduler.objective == .vPrediction ? .vPrediction : .epsilon
                return try DPMSolverMultistepScheduler(dpm)
            }
            return try scheduler(c, className: kind == .ddim ? DDIMScheduler.className : DDPMScheduler.className)
        }
    }

    /// The diffusers scheduler this run's noise process corresponds to.
    static func scheduler(_ c: TrainConfig, className: String) throws -> any NoiseScheduler {
        if className == FlowMatchEulerDiscreteScheduler.className {
            var flow = FlowMatchEulerDiscreteSchedulerConfig()
            flow.numTrainTimesteps = c.scheduler.numTrainTimesteps
            flow.shift = c.scheduler.shift
            return try FlowMatchEulerDiscreteScheduler(flow)
        }
        var ddpm = DDPMFamilyConfig(className: className)
        ddpm.numTrainTimesteps = c.scheduler.numTrainTimesteps
        ddpm.betaSchedule = c.scheduler.betaSchedule
        ddpm.predictionType = c.scheduler.objective == .vPrediction ? .vPrediction : .epsilon
        // Pixel space is clipped to [−1, 1]; latents are not bounded.
        ddpm.clipSample = c.vae == nil
        ddpm.timestepSpacing = "trailing"
        if className == DDIMScheduler.className { ddpm.setAlphaToOne = false }
        return className == DDIMScheduler.className ? try DDIMScheduler(ddpm) : try DDPMScheduler(ddpm)
    }
}
