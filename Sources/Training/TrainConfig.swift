import Foundation
import Models
import Schedulers
import Support
import Torch

/// Everything `dit train` needs, read from a YAML file (configs/*.yaml); every key is documented there. Each section
/// is a Codable struct whose CodingKeys are the YAML keys; its init(from:) gives the defaults and checks
/// (ConfigReader reports every problem at once), the synthesized encode(to:) writes `canonicalYAML`. A value of this
/// type has passed every check.
///
/// Relative paths (run.output_dir, data.cache, text_encoder.path, vae.path) are kept as written and resolve
/// against the current working directory, not the config file's directory, so `dit train configs/tiny-cpu.yaml`
/// run from the package root finds `cache/shapes` there.
public struct TrainConfig: Codable, Equatable, Sendable {
    public var run: Run
    public var data: Data
    public var model: Model
    public var textEncoder: TextEncoder
    /// nil: the DiT works in pixel space.
    public var vae: VAE?
    public var scheduler: Scheduler
    public var optimizer: Optimizer
    public var training: Training

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case run, data, model, textEncoder = "text_encoder", vae, scheduler, optimizer, training
    }

    public struct Run: Codable, Equatable, Sendable {
        public var name: String
        public var outputDir: String
        public var seed: Int
        public var device: Device
        /// 0 = all cores.
        public var threads: Int
        public var logEvery: Int
        /// 0 = never.
        public var sampleEvery: Int
        /// 0 = only at the end.
        public var checkpointEvery: Int
        public var keepLast: Int
        public var samplePrompts: [String]
        public var sampleSteps: Int
        public var cfgScale: Double
        public var sampler: Sampler

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case name, outputDir = "output_dir", seed, device, threads, logEvery = "log_every"
            case sampleEvery = "sample_every", checkpointEvery = "checkpoint_every", keepLast = "keep_last"
            case samplePrompts = "sample_prompts", sampleSteps = "sample_steps", cfgScale = "cfg_scale", sampler
        }

        /// <output_dir>/<name>, relative to the current directory when output_dir is.
        public var directory: URL { URL(fileURLWithPath: outputDir).appendingPathComponent(name) }
    }

    public struct Data: Codable, Equatable, Sendable {
        /// The feature cache `dit prepare` wrote.
        public var cache: String
        /// Pixels per side of the training images.
        public var imageSize: Int
        /// Fraction of captions replaced by the empty caption, so classifier-free guidance has an unconditional model.
        public var captionDropout: Double

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case cache, imageSize = "image_size", captionDropout = "caption_dropout"
        }
    }

    /// The DiT; maps onto diffusers' PixArtTransformer2DModel (see `pixArtConfig`).
    public struct Model: Codable, Equatable, Sendable {
        public var hiddenSize: Int
        public var numLayers: Int
        public var numHeads: Int
        public var attentionHeadDim: Int
        public var patchSize: Int
        public var inChannels: Int
        public var outChannels: Int
        /// The second half of the output channels predicts the variance (DiT's learned Σ).
        public var learnSigma: Bool
        /// Side of the DiT's input: image_size in pixel space, image_size / 8 in an SD VAE's latent space.
        public var sampleSize: Int
        public var crossAttentionDim: Int

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case hiddenSize = "hidden_size", numLayers = "num_layers", numHeads = "num_heads"
            case attentionHeadDim = "attention_head_dim", patchSize = "patch_size", inChannels = "in_channels"
            case outChannels = "out_channels", learnSigma = "learn_sigma", sampleSize = "sample_size"
            case crossAttentionDim = "cross_attention_dim"
        }
    }

    public struct TextEncoder: Codable, Equatable, Sendable {
        public var type: TextEncoderType
        /// A transformers directory; nil = a new CLIP-architecture encoder, trained with the DiT.
        public var path: String?
        /// The new CLIP encoder's shape (defaults 128, 2, 4); unused for a pretrained encoder, whose config.json
        /// decides, and left out of canonicalYAML then.
        public var hiddenSize: Int
        public var numLayers: Int
        public var numHeads: Int
        public var maxLength: Int
        public var trainable: Bool

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case type, path, hiddenSize = "hidden_size", numLayers = "num_layers", numHeads = "num_heads"
            case maxLength = "max_length", trainable
        }

        /// Whether this is a new (randomly initialised) CLIP encoder rather than one loaded from `path`.
        public var isNew: Bool { type == .clip && path == nil }

        /// The width of the encoder's output, as far as the config alone can tell: the new CLIP's hidden_size,
        /// 384 for MiniLM (all-MiniLM-L6-v2's width; another BERT may differ), nil for a pretrained CLIP.
        /// The trainer knows the loaded encoder's real width and should use `pixArtConfig(captionChannels:)`.
        public var knownHiddenSize: Int? { isNew ? hiddenSize : type == .minilm ? 384 : nil }
    }

    public struct VAE: Codable, Equatable, Sendable {
        /// A diffusers AutoencoderKL directory.
        public var path: String

        public enum CodingKeys: String, CodingKey, CaseIterable { case path }
    }

    public struct Scheduler: Codable, Equatable, Sendable {
        public var objective: Objective
        public var numTrainTimesteps: Int
        /// diffusers' beta_schedule: linear, scaled_linear or squaredcos_cap_v2; unused by the flow objective.
        public var betaSchedule: String
        /// Timestep shift of flow matching (1 = none); only the flow objective uses it.
        public var shift: Double

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case objective, numTrainTimesteps = "num_train_timesteps", betaSchedule = "beta_schedule", shift
        }
    }

    public struct Optimizer: Codable, Equatable, Sendable {
        public var learningRate: Double
        public var betas: [Double]
        public var weightDecay: Double
        public var eps: Double
        /// nil: no gradient clipping.
        public var maxGradNorm: Double?
        /// diffusers' get_scheduler name: constant, constant_with_warmup, linear or cosine (see Torch's LRSchedule).
        public var lrSchedule: String
        public var warmupSteps: Int
        /// nil: no EMA weights.
        public var emaDecay: Double?

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case learningRate = "learning_rate", betas, weightDecay = "weight_decay", eps
            case maxGradNorm = "max_grad_norm", lrSchedule = "lr_schedule", warmupSteps = "warmup_steps"
            case emaDecay = "ema_decay"
        }
    }

    public struct Training: Codable, Equatable, Sendable {
        public var batchSize: Int
        public var gradientAccumulationSteps: Int
        /// Exactly one of maxSteps (optimizer steps) and numEpochs is set.
        public var maxSteps: Int?
        public var numEpochs: Int?
        public var mixedPrecision: MixedPrecision

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case batchSize = "batch_size", gradientAccumulationSteps = "gradient_accumulation_steps"
            case maxSteps = "max_steps", numEpochs = "num_epochs", mixedPrecision = "mixed_precision"
        }

        /// Samples per optimizer step.
        public var effectiveBatchSize: Int { batchSize * gradientAccumulationSteps }
    }

    public enum Objective: String, Codable, CaseIterable, Sendable {
        case epsilon, vPrediction = "v_prediction", flow
        public var predictionType: PredictionType {
            switch self {
            case .epsilon: .epsilon
            case .vPrediction: .vPrediction
            case .flow: .flow
            }
        }
        public var defaultSampler: Sampler { self == .flow ? .euler : .ddim }
        /// Samplers that solve this objective's process: the DDPM/DDIM family or the flow ODE.
        public var samplers: [Sampler] { self == .flow ? [.euler] : [.ddim, .ddpm] }
    }

    public enum Sampler: String, Codable, CaseIterable, Sendable { case ddim, ddpm, euler }
    public enum MixedPrecision: String, Codable, CaseIterable, Sendable { case no, bf16, fp16 }
    public enum TextEncoderType: String, Codable, CaseIterable, Sendable { case clip, minilm }
    public static let betaSchedules = ["linear", "scaled_linear", "squaredcos_cap_v2"]
    public static let lrSchedules = ["constant", "constant_with_warmup", "linear", "cosine"]
}

