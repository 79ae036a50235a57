import Foundation
import Models
import Schedulers
import Support
import Torch

/// Everything `dit train` needs, read from a YAML file (configs/*.yaml); every key is documented there.
/// Reading and checking live in TrainConfigValidation.swift: a value of this type has passed every check.
///
/// Relative paths (run.output_dir, data.cache, text_encoder.path, vae.path) are kept as written and resolve
/// against the current working directory, not the config file's directory, so `dit train configs/tiny-cpu.yaml`
/// run from the package root finds `cache/shapes` there.
public struct TrainConfig: Equatable, Sendable {
    public var run: Run
    public var data: Data
    public var model: Model
    public var textEncoder: TextEncoder
    /// nil: the DiT works in pixel space.
    public var vae: VAE?
    public var scheduler: Scheduler
    public var optimizer: Optimizer
    public var training: Training

    public struct Run: Equatable, Sendable {
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

        /// <output_dir>/<name>, relative to the current directory when output_dir is.
        public var directory: URL { URL(fileURLWithPath: outputDir).appendingPathComponent(name) }
    }

    public struct Data: Equatable, Sendable {
        /// The feature cache `dit prepare` wrote.
        public var cache: String
        /// Pixels per side of the training images.
        public var imageSize: Int
        /// Fraction of captions replaced by the empty caption, so classifier-free guidance has an unconditional model.
        public var captionDropout: Double
    }

    /// The DiT; maps onto diffusers' PixArtTransformer2DModel (see `pixArtConfig`).
    public struct Model: Equatable, Sendable {
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
    }

    public struct TextEncoder: Equatable, Sendable {
        public var type: TextEncoderType
        /// A transformers directory; nil = a new CLIP-architecture encoder, trained with the DiT.
        public var path: String?
        /// The new CLIP encoder's shape (defaults 128, 2, 4); unused for a pretrained encoder, whose config.json
        /// decides, and written as null by canonicalYAML then.
        public var hiddenSize: Int
        public var numLayers: Int
        public var numHeads: Int
        public var maxLength: Int
        public var trainable: Bool

        /// Whether this is a new (randomly initialised) CLIP encoder rather than one loaded from `path`.
        public var isNew: Bool { type == .clip && path == nil }

        /// The width of the encoder's output, as far as the config alone can tell: the new CLIP's hidden_size,
        /// 384 for MiniLM (all-MiniLM-L6-v2's width; another BERT may differ), nil for a pretrained CLIP.
        /// The trainer knows the loaded encoder's real width and should use `pixArtConfig(captionChannels:)`.
        public var knownHiddenSize: Int? { isNew ? hiddenSize : type == .minilm ? 384 : nil }
    }

    public struct VAE: Equatable, Sendable {
        /// A diffusers AutoencoderKL directory.
        public var path: String
    }

    public struct Scheduler: Equatable, Sendable {
        public var objective: Objective
        public var numTrainTimesteps: Int
        /// diffusers' beta_schedule: linear, scaled_linear or squaredcos_cap_v2; unused by the flow objective.
        public var betaSchedule: String
        /// Timestep shift of flow matching (1 = none); only the flow objective uses it.
        public var shift: Double
    }

    public struct Optimizer: Equatable, Sendable {
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
    }

    public struct Training: Equatable, Sendable {
        public var batchSize: Int
        public var gradientAccumulationSteps: Int
        /// Exactly one of maxSteps (optimizer steps) and numEpochs is set.
        public var maxSteps: Int?
        public var numEpochs: Int?
        public var mixedPrecision: MixedPrecision

        /// Samples per optimizer step.
        public var effectiveBatchSize: Int { batchSize * gradientAccumulationSteps }
    }

    public enum Objective: String, CaseIterable, Sendable {
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

    public enum Sampler: String, CaseIterable, Sendable { case ddim, ddpm, euler }
    public enum MixedPrecision: String, CaseIterable, Sendable { case no, bf16, fp16 }
    public enum TextEncoderType: String, CaseIterable, Sendable { case clip, minilm }
    public static let betaSchedules = ["linear", "scaled_linear", "squaredcos_cap_v2"]
    public static let lrSchedules = ["constant", "constant_with_warmup", "linear", "cosine"]
}

extension TrainConfig {
    /// Reads and checks a YAML config file.
    public static func load(_ url: URL) throws -> TrainConfig {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ConfigError(file: url.path, "cannot read the file (missing, unreadable or not UTF-8)")
        }
        return try TrainConfig(yaml: text, source: url.path)
    }

    /// The DiT's diffusers config, with caption_channels = the text encoder's width when the config knows it.
    public var pixArtConfig: PixArtTransformer2DConfig { pixArtConfig(captionChannels: textEncoder.knownHiddenSize) }

    /// The DiT's diffusers config for a text encoder whose output is `captionChannels` wide.
    public func pixArtConfig(captionChannels: Int?) -> PixArtTransformer2DConfig {
        var c = PixArtTransformer2DConfig(
            numAttentionHeads: model.numHeads, attentionHeadDim: model.attentionHeadDim,
            inChannels: model.inChannels, outChannels: model.outChannels, numLayers: model.numLayers,
            sampleSize: model.sampleSize, patchSize: model.patchSize, crossAttentionDim: model.crossAttentionDim,
            captionChannels: captionChannels)
        // diffusers turns on resolution/aspect conditioning for sample_size 128 (PixArt-α 1024 px); a model
        // trained here never sees those inputs, so it is off at every size.
        c.useAdditionalConditions = false
        return c
    }

    /// The resolved config: every key in schema order, every default filled in, strings quoted. Reading it back
    /// gives an equal config; checkpoints store it, and `hash` identifies it.
    public var canonicalYAML: String {
        var lines: [String] = []
        func section(_ name: String, _ entries: [(String, String)]) {
            lines.append("\(name):")
            for (key, value) in entries { lines.append("  \(key): \(value)") }
        }
        let r = run, m = model, t = textEncoder, s = scheduler, o = optimizer, tr = training
        let prompts = r.samplePrompts.isEmpty ? "[]" : "\n" + r.samplePrompts.map { "    - " + yamlQuoted($0) }
            .joined(separator: "\n")
        section("run", [
            ("name", yamlQuoted(r.name)), ("output_dir", yamlQuoted(r.outputDir)), ("seed", "\(r.seed)"),
            ("device", yamlQuoted(r.device.description)), ("threads", "\(r.threads)"), ("log_every", "\(r.logEvery)"),
            ("sample_every", "\(r.sampleEvery)"), ("checkpoint_every", "\(r.checkpointEvery)"),
            ("keep_last", "\(r.keepLast)"), ("sample_prompts", prompts), ("sample_steps", "\(r.sampleSteps)"),
            ("cfg_scale", yamlNumber(r.cfgScale)), ("sampler", yamlQuoted(r.sampler.rawValue)),
        ])
        section("data", [
            ("cache", yamlQuoted(data.cache)), ("image_size", "\(data.imageSize)"),
            ("caption_dropout", yamlNumber(data.captionDropout)),
        ])
        section("model", [
            ("hidden_size", "\(m.hiddenSize)"), ("num_layers", "\(m.numLayers)"), ("num_heads", "\(m.numHeads)"),
            ("attention_head_dim", "\(m.attentionHeadDim)"), ("patch_size", "\(m.patchSize)"),
            ("in_channels", "\(m.inChannels)"), ("out_channels", "\(m.outChannels)"),
            ("learn_sigma", "\(m.learnSigma)"), ("sample_size", "\(m.sampleSize)"),
            ("cross_attention_dim", "\(m.crossAttentionDim)"),
        ])
        section("text_encoder", [
            ("type", yamlQuoted(t.type.rawValue)), ("path", t.path.map(yamlQuoted) ?? "null"),
            ("hidden_size", t.isNew ? "\(t.hiddenSize)" : "null"), ("num_layers", t.isNew ? "\(t.numLayers)" : "null"),
            ("num_heads", t.isNew ? "\(t.numHeads)" : "null"), ("max_length", "\(t.maxLength)"),
            ("trainable", "\(t.trainable)"),
        ])
        if let vae { section("vae", [("path", yamlQuoted(vae.path))]) } else { lines.append("vae: null") }
        section("scheduler", [
            ("objective", yamlQuoted(s.objective.rawValue)), ("num_train_timesteps", "\(s.numTrainTimesteps)"),
            ("beta_schedule", yamlQuoted(s.betaSchedule)), ("shift", yamlNumber(s.shift)),
        ])
        section("optimizer", [
            ("learning_rate", yamlNumber(o.learningRate)),
            ("betas", "[" + o.betas.map(yamlNumber).joined(separator: ", ") + "]"),
            ("weight_decay", yamlNumber(o.weightDecay)), ("eps", yamlNumber(o.eps)),
            ("max_grad_norm", o.maxGradNorm.map(yamlNumber) ?? "null"), ("lr_schedule", yamlQuoted(o.lrSchedule)),
            ("warmup_steps", "\(o.warmupSteps)"), ("ema_decay", o.emaDecay.map(yamlNumber) ?? "null"),
        ])
        section("training", [
            ("batch_size", "\(tr.batchSize)"), ("gradient_accumulation_steps", "\(tr.gradientAccumulationSteps)"),
            ("max_steps", tr.maxSteps.map { "\($0)" } ?? "null"), ("num_epochs", tr.numEpochs.map { "\($0)" } ?? "null"),
            ("mixed_precision", yamlQuoted(tr.mixedPrecision.rawValue)),
        ])
        return lines.joined(separator: "\n") + "\n"
    }

    /// FNV-1a 64 of `canonicalYAML`, 16 hex digits: equal for configs that train the same way, whatever their
    /// comments, key order or spelled-out defaults.
    public var hash: String { fnv1a64(canonicalYAML) }
}

/// A YAML double-quoted scalar: always a string whatever it looks like ("no", "123", "cuda:0"). A JSON string with
/// control characters escaped is exactly that.
private func yamlQuoted(_ s: String) -> String { JSONValue.quoted(s) }

/// Swift's shortest round-tripping form ("0.0003", "1e-08", "4.0"), which YAML reads back as the same float.
private func yamlNumber(_ x: Double) -> String { "\(x)" }
