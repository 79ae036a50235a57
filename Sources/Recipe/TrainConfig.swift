import Core
import Foundation
import Models
import Schedulers
import Torch

/// Everything `dit train` needs, read from a YAML file (configs/*.yaml); every key is documented there. Each section
/// is a Codable struct (a `ConfigSchema`) whose properties are the defaults and whose CodingKeys are the YAML keys;
/// its `check` holds the rules within the section (TrainConfigReading.swift), and Core's `ConfigProblems` collects
/// every problem at once. The synthesized encode(to:) writes `canonicalYAML`. A value of this type has passed every
/// check.
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

    public struct Run: Codable, Equatable, Sendable, ConfigSchema {
        public init() {}
        public var name = ""
        public var outputDir = "runs"
        public var seed = 0
        public var device = Device.cpu
        /// 0 = all cores.
        public var threads = 0
        public var logEvery = 10
        /// 0 = never.
        public var sampleEvery = 0
        /// 0 = only at the end.
        public var checkpointEvery = 0
        public var keepLast = 3
        public var samplePrompts: [String] = []
        public var sampleSteps = 25
        public var cfgScale = 4.0
        /// Default: the one that solves the objective (ddim, or euler for flow).
        public var sampler = Sampler.ddim
        /// Seconds a multi-process run waits at a collective (rendezvous, gradient all-reduce, the checkpoint
        /// barrier) before it gives up with an error; torch's default for process groups.
        public var distributedTimeout = 1800.0

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case name, outputDir = "output_dir", seed, device, threads, logEvery = "log_every"
            case sampleEvery = "sample_every", checkpointEvery = "checkpoint_every", keepLast = "keep_last"
            case samplePrompts = "sample_prompts", sampleSteps = "sample_steps", cfgScale = "cfg_scale", sampler
            case distributedTimeout = "distributed_timeout"
        }

        /// <output_dir>/<name>, relative to the current directory when output_dir is.
        public var directory: URL { URL(fileURLWithPath: outputDir).appendingPathComponent(name) }
        /// <output_dir>/<name>/checkpoints.
        public var checkpointsDirectory: URL { directory.appendingPathComponent("checkpoints") }
    }

    public struct Data: Codable, Equatable, Sendable, ConfigSchema {
        public init() {}
        /// The feature cache `dit prepare` wrote.
        public var cache = ""
        /// Pixels per side of the training images.
        public var imageSize = 0
        /// Fraction of captions replaced by the empty caption, so classifier-free guidance has an unconditional model.
        public var captionDropout = 0.1
        /// Mirror images at random (each image's flipped latents are cached by `dit prepare`). Off by default:
        /// captions that say "left" or "right" would become wrong.
        public var randomFlip = false
        /// Crops at random places per image (0: the centre crop), cached by `dit prepare`, one drawn per step.
        public var randomCrops = 0

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case cache, imageSize = "image_size", captionDropout = "caption_dropout", randomFlip = "random_flip"
            case randomCrops = "random_crops"
        }
    }

    /// The DiT; maps onto diffusers' PixArtTransformer2DModel (see `pixArtConfig`).
    public struct Model: Codable, Equatable, Sendable, ConfigSchema {
        public init() {}
        public var hiddenSize = 0
        public var numLayers = 0
        public var numHeads = 0
        /// Default: hidden_size / num_heads.
        public var attentionHeadDim = 0
        public var patchSize = 0
        public var inChannels = 0
        /// Default: in_channels (2 × in_channels with learn_sigma).
        public var outChannels = 0
        /// The second half of the output channels predicts the variance (DiT's learned Σ).
        public var learnSigma = false
        /// Side of the DiT's input: image_size in pixel space, image_size / 8 in an SD VAE's latent space.
        public var sampleSize = 0
        /// Default: hidden_size.
        public var crossAttentionDim = 0

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case hiddenSize = "hidden_size", numLayers = "num_layers", numHeads = "num_heads"
            case attentionHeadDim = "attention_head_dim", patchSize = "patch_size", inChannels = "in_channels"
            case outChannels = "out_channels", learnSigma = "learn_sigma", sampleSize = "sample_size"
            case crossAttentionDim = "cross_attention_dim"
        }
    }

    public struct TextEncoder: Codable, Equatable, Sendable, ConfigSchema {
        public init() {}
        public var type = TextEncoderType.clip
        /// A transformers directory; nil = a new CLIP-architecture encoder, trained with the DiT.
        public var path: String? = nil
        /// The new CLIP encoder's shape (defaults 128, 2, 4); unused for a pretrained encoder, whose config.json
        /// decides, and left out of canonicalYAML then.
        public var hiddenSize = 128
        public var numLayers = 2
        public var numHeads = 4
        public var maxLength = 77
        /// Default: true for a new encoder, false for a pretrained one.
        public var trainable = true

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case type, path, hiddenSize = "hidden_size", numLayers = "num_layers", numHeads = "num_heads"
            case maxLength = "max_length", trainable
        }

        /// Whether this is a new (randomly initialised) CLIP encoder rather than one loaded from `path`.
        public var isNew: Bool { type == .clip && path == nil }

        /// The width of the encoder's output, as far as the config alone can tell: the new CLIP's hidden_size,
        /// 384 for MiniLM (all-MiniLM-L6-v2's width; another BERT may differ), nil for a pretrained CLIP.
        /// The trainer knows the loaded encoder's real width and should use `pixArtConfig(captionChannels:)`.
        public var knownHiddenSize: Int? { isNew ? hiddenSize : type.knownWidth }
    }

    public struct VAE: Codable, Equatable, Sendable, ConfigSchema {
        public init() {}
        /// A diffusers AutoencoderKL directory.
        public var path = ""

        public enum CodingKeys: String, CodingKey, CaseIterable { case path }
    }

    public struct Scheduler: Codable, Equatable, Sendable, ConfigSchema {
        public init() {}
        public var objective = Objective.epsilon
        public var numTrainTimesteps = 1000
        /// diffusers' beta_schedule: linear, scaled_linear or squaredcos_cap_v2; unused by the flow objective.
        public var betaSchedule = "linear"
        /// Timestep shift of flow matching (1 = none); only the flow objective uses it.
        public var shift = 1.0

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case objective, numTrainTimesteps = "num_train_timesteps", betaSchedule = "beta_schedule", shift
        }
    }

    public struct Optimizer: Codable, Equatable, Sendable, ConfigSchema {
        public init() {}
        public var learningRate = 0.0
        public var betas = [0.9, 0.999]
        public var weightDecay = 0.0
        public var eps = 1e-8
        /// nil: no gradient clipping.
        public var maxGradNorm: Double? = 1
        /// diffusers' get_scheduler name: constant, constant_with_warmup, linear or cosine (see Torch's LRSchedule).
        public var lrSchedule = "constant"
        public var warmupSteps = 0
        /// nil: no EMA weights.
        public var emaDecay: Double? = 0.9999

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case learningRate = "learning_rate", betas, weightDecay = "weight_decay", eps
            case maxGradNorm = "max_grad_norm", lrSchedule = "lr_schedule", warmupSteps = "warmup_steps"
            case emaDecay = "ema_decay"
        }
    }

    public struct Training: Codable, Equatable, Sendable, ConfigSchema {
        public init() {}
        public var batchSize = 0
        public var gradientAccumulationSteps = 1
        /// Exactly one of maxSteps (optimizer steps) and numEpochs is set.
        public var maxSteps: Int? = nil
        public var numEpochs: Int? = nil
        /// YAML 1.1 reads an unquoted `no` as false, which means "no" here.
        public var mixedPrecision = MixedPrecision.no
        /// How a new DiT's weights start (not a resumed or fine-tuned one): PyTorch's layer defaults or PixArt-α's.
        /// Not part of the architecture hash: a checkpoint's weights replace it.
        public var initialization = Initialization.pytorch

        public enum CodingKeys: String, CodingKey, CaseIterable {
            case batchSize = "batch_size", gradientAccumulationSteps = "gradient_accumulation_steps"
            case maxSteps = "max_steps", numEpochs = "num_epochs", mixedPrecision = "mixed_precision"
            case initialization
        }

        /// Samples per optimizer step.
        public var effectiveBatchSize: Int { batchSize * gradientAccumulationSteps }
    }

    public enum Objective: String, ConfigChoice {
        case epsilon, vPrediction = "v_prediction", flow
        public var predictionType: PredictionType { PredictionType(rawValue: rawValue)! }  // the same names
        public var defaultSampler: Sampler { self == .flow ? .euler : .ddim }
        /// Samplers that solve this objective's process: the DDPM/DDIM family or the flow ODE.
        public var samplers: [Sampler] { Sampler.allCases.filter { $0.schedulerClass.solvesFlow == (self == .flow) } }
    }

    /// A sampler by the name Schedulers' `SchedulerFactory` lists it under: ddim, ddpm, dpmsolver++ (DPM-Solver++,
    /// PixArt-α's default: good images in 15-25 steps), euler (flow). A new scheduler class there is a new choice here.
    public struct Sampler: ConfigChoice, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init?(rawValue: String) {
            guard SchedulerFactory.type(samplerName: rawValue) != nil else { return nil }
            self.rawValue = rawValue
        }
        public static var allCases: [Sampler] { SchedulerFactory.classes.compactMap { Sampler(rawValue: $0.samplerName) } }
        /// The objectives' defaults (see `Objective.defaultSampler`).
        public static let ddim = Sampler(rawValue: DDIMScheduler.samplerName)!
        public static let euler = Sampler(rawValue: FlowMatchEulerDiscreteScheduler.samplerName)!
        public var schedulerClass: SchedulerClass { SchedulerFactory.type(samplerName: rawValue)! }
        public var description: String { rawValue }
    }

    public enum MixedPrecision: String, ConfigChoice { case no, bf16, fp16 }
    public typealias Initialization = PixArtTransformer2DModel.Initialization
    public static let betaSchedules = ["linear", "scaled_linear", "squaredcos_cap_v2"]
    public static let lrSchedules = ["constant", "constant_with_warmup", "linear", "cosine"]
}

