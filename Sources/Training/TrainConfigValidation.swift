import Foundation
import Support
import Torch
import Yams

// Reading a TrainConfig from YAML. The Node tree (not Codable) shows unknown keys, the type YAML gave each value
// and its line. Every problem is collected, so one run of `dit train` lists all of them: a value with a problem
// reads as a placeholder, and a rule that depends on it is skipped rather than reporting the same mistake twice.

extension TrainConfig {
    /// The keys of each section, in schema (and canonicalYAML) order.
    static let schema: [(section: String, keys: [String])] = [
        ("run", ["name", "output_dir", "seed", "device", "threads", "log_every", "sample_every", "checkpoint_every",
                 "keep_last", "sample_prompts", "sample_steps", "cfg_scale", "sampler"]),
        ("data", ["cache", "image_size", "caption_dropout"]),
        ("model", ["hidden_size", "num_layers", "num_heads", "attention_head_dim", "patch_size", "in_channels",
                   "out_channels", "learn_sigma", "sample_size", "cross_attention_dim"]),
        ("text_encoder", ["type", "path", "hidden_size", "num_layers", "num_heads", "max_length", "trainable"]),
        ("vae", ["path"]),
        ("scheduler", ["objective", "num_train_timesteps", "beta_schedule", "shift"]),
        ("optimizer", ["learning_rate", "betas", "weight_decay", "eps", "max_grad_norm", "lr_schedule",
                       "warmup_steps", "ema_decay"]),
        ("training", ["batch_size", "gradient_accumulation_steps", "max_steps", "num_epochs", "mixed_precision"]),
    ]

    /// Parses and checks `yaml`; `source` names it in errors (the file path). Throws one ConfigError listing
    /// every problem found.
    public init(yaml: String, source: String) throws {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
            throw ConfigError(file: source, "not valid YAML: duplicate key \(duplicates.joined(separator: ", "))"
                + " (line \(context.mark.line))")
        } catch {
            throw ConfigError(file: source, "not valid YAML: \(error)")
        }
        let sectionNames = Self.schema.map(\.section)
        guard let root else {
            throw ConfigError(file: source, "the file is empty (expected the sections \(sectionNames.joined(separator: ", ")))")
        }
        let problems = ConfigProblems(file: source)
        let top = YAMLSection(root, path: "", keys: sectionNames, problems: problems)
        func section(_ name: String, required: Bool = true) -> YAMLSection {
            top.section(name, keys: Self.schema.first { $0.section == name }?.keys ?? [], required: required)
        }
        let scheduler = Scheduler(section("scheduler"))
        let vaeSection = section("vae", required: false)
        self.init(run: Run(section("run"), objective: scheduler.objective), data: Data(section("data")),
                  model: Model(section("model")), textEncoder: TextEncoder(section("text_encoder")),
                  vae: vaeSection.isPresent ? VAE(path: vaeSection.string("path")) : nil, scheduler: scheduler,
                  optimizer: Optimizer(section("optimizer")), training: Training(section("training")))
        checkAcrossSections(problems)
        if let error = problems.error { throw error }
    }

    /// Rules that tie sections together.
    private func checkAcrossSections(_ p: ConfigProblems) {
        let factor = vae == nil ? 1 : 8
        p.require(data.imageSize == model.sampleSize * factor, "data.image_size",
                  "\(data.imageSize) does not match model.sample_size \(model.sampleSize)"
                      + (vae == nil ? " (pixel space: they must be equal)"
                         : " × 8 = \(model.sampleSize * 8) (the VAE downsamples by 8)"),
                  inputs: ["model.sample_size", "vae"])
        if vae == nil {
            p.require(model.inChannels == 3, "model.in_channels",
                      "\(model.inChannels), but without a vae section the DiT sees RGB pixels: expected 3 (or add vae.path)",
                      inputs: ["vae"])
        }
        p.require(scheduler.objective.samplers.contains(run.sampler), "run.sampler",
                  "\(run.sampler.rawValue) cannot sample the \(scheduler.objective.rawValue) objective (expected "
                      + scheduler.objective.samplers.map(\.rawValue).joined(separator: " or ") + ")",
                  inputs: ["scheduler.objective"])
        p.require(scheduler.objective == .flow || scheduler.shift == 1, "scheduler.shift",
                  "\(scheduler.shift) applies only to the flow objective (objective is \(scheduler.objective.rawValue))",
                  inputs: ["scheduler.objective"])
        p.require(training.mixedPrecision != .fp16 || run.device != .cpu, "training.mixed_precision",
                  "fp16 needs a CUDA device (run.device is cpu; use \"bf16\" or \"no\")", inputs: ["run.device"])
        // A last guard that the DiT can be built: the rules above should already have caught anything it rejects.
        if p.isEmpty {
            do {
                try pixArtConfig.validate(file: p.file)
            } catch let error as ConfigError {
                p.report("model", "does not form a PixArt model: \(error.key ?? ""): \(error.message)", line: nil)
            } catch {
                p.report("model", "does not form a PixArt model: \(error)", line: nil)
            }
        }
    }
}

extension TrainConfig.Run {
    init(_ s: YAMLSection, objective: TrainConfig.Objective) {
        let deviceName = s.string("device", default: "cpu")
        let device = Device(name: deviceName)
        if device == nil {
            s.fail("device", "'\(deviceName)' is not a device (expected cpu, cuda or cuda:N)")
        }
        self.init(
            name: s.string("name"), outputDir: s.string("output_dir", default: "runs"),
            seed: s.int("seed", default: 0, min: 0, max: .max), device: device ?? .cpu,
            threads: s.int("threads", default: 0, min: 0), logEvery: s.int("log_every", default: 10, min: 1),
            sampleEvery: s.int("sample_every", default: 0, min: 0),
            checkpointEvery: s.int("checkpoint_every", default: 0, min: 0), keepLast: s.int("keep_last", default: 3, min: 1),
            samplePrompts: s.strings("sample_prompts", default: []), sampleSteps: s.int("sample_steps", default: 25, min: 1),
            cfgScale: s.double("cfg_scale", default: 4, .atLeast(1)),
            sampler: s.optionalChoice("sampler") ?? objective.defaultSampler)
        s.require(!name.isEmpty && !name.contains("/") && name != "." && name != "..", "name",
                  "'\(name)' cannot name a run directory (expected a non-empty name without '/')")
    }
}

extension TrainConfig.Data {
    init(_ s: YAMLSection) {
        self.init(cache: s.string("cache"), imageSize: s.int("image_size", min: 8),
                  captionDropout: s.double("caption_dropout", default: 0.1, .halfOpenUnit))
    }
}

extension TrainConfig.Model {
    init(_ s: YAMLSection) {
        let hidden = s.int("hidden_size", min: 1), heads = s.int("num_heads", min: 1)
        let headDim = s.optionalInt("attention_head_dim", min: 1)
        let inChannels = s.int("in_channels", min: 1), learnSigma = s.bool("learn_sigma", default: false)
        let outChannels = s.optionalInt("out_channels", min: 1)
        self.init(hiddenSize: hidden, numLayers: s.int("num_layers", min: 1), numHeads: heads,
                  attentionHeadDim: headDim ?? max(hidden / heads, 1), patchSize: s.int("patch_size", min: 1),
                  inChannels: inChannels, outChannels: outChannels ?? (learnSigma ? 2 : 1) * inChannels,
                  learnSigma: learnSigma, sampleSize: s.int("sample_size", min: 1),
                  crossAttentionDim: s.int("cross_attention_dim", default: hidden, min: 1))
        s.require(hidden % heads == 0, "num_heads", "\(heads) does not divide hidden_size \(hidden)",
                  inputs: ["hidden_size"])
        if let headDim {
            s.require(headDim * heads == hidden, "attention_head_dim",
                      "\(headDim) is not hidden_size / num_heads = \(hidden) / \(heads)"
                          + (hidden % heads == 0 ? " = \(hidden / heads)" : ""),
                      inputs: ["hidden_size", "num_heads"])
        }
        s.require(hidden % 4 == 0, "hidden_size",
                  "\(hidden) is not a multiple of 4 (the 2-D sin-cos position embedding splits it in four)")
        s.require(sampleSize % patchSize == 0, "patch_size", "\(patchSize) does not divide sample_size \(sampleSize)",
                  inputs: ["sample_size"])
        if let outChannels {
            let expected = (learnSigma ? 2 : 1) * inChannels
            s.require(outChannels == expected, "out_channels",
                      "\(outChannels), expected \(expected) (" + (learnSigma
                          ? "2 × in_channels: the prediction and the learned variance)"
                          : "in_channels: the prediction has the input's shape; set learn_sigma for 2 × in_channels)"),
                      inputs: ["in_channels", "learn_sigma"])
        }
        s.require(crossAttentionDim == hidden, "cross_attention_dim",
                  "\(crossAttentionDim), expected hidden_size \(hidden) (the caption is projected to hidden_size "
                      + "before cross-attention)", inputs: ["hidden_size"])
    }
}

extension TrainConfig.TextEncoder {
    init(_ s: YAMLSection) {
        let type: TrainConfig.TextEncoderType = s.choice("type"), path = s.optionalString("path")
        let isNewCLIP = type == .clip && path == nil
        if type == .minilm && path == nil && s.valid("type") {
            s.fail("path", "missing: a minilm encoder is loaded from a transformers directory (e.g. models/all-MiniLM-L6-v2)")
        }
        // A pretrained encoder's shape is in its config.json; a value here could only disagree with it.
        for key in ["hidden_size", "num_layers", "num_heads"] where !isNewCLIP && s.has(key) && s.valid("type", "path") {
            s.fail(key, "only for a new CLIP encoder (type clip, path null); a pretrained encoder's config.json sets it")
        }
        // Read in every case so their types are checked; a pretrained encoder's values were refused above.
        self.init(type: type, path: path, hiddenSize: s.int("hidden_size", default: 128, min: 1),
                  numLayers: s.int("num_layers", default: 2, min: 1), numHeads: s.int("num_heads", default: 4, min: 1),
                  maxLength: s.int("max_length", default: 77, min: 2),
                  trainable: s.bool("trainable", default: isNewCLIP))
        if isNewCLIP {
            s.require(hiddenSize % numHeads == 0, "num_heads", "\(numHeads) does not divide hidden_size \(hiddenSize)",
                      inputs: ["hidden_size"])
        }
    }
}

extension TrainConfig.Scheduler {
    init(_ s: YAMLSection) {
        self.init(objective: s.choice("objective"),
                  numTrainTimesteps: s.int("num_train_timesteps", default: 1000, min: 1),
                  betaSchedule: s.choice("beta_schedule", in: TrainConfig.betaSchedules, default: "linear"),
                  shift: s.double("shift", default: 1, .positive))
    }
}

extension TrainConfig.Optimizer {
    init(_ s: YAMLSection) {
        self.init(learningRate: s.double("learning_rate", .positive),
                  betas: s.numbers("betas", count: 2, default: [0.9, 0.999], .halfOpenUnit),
                  weightDecay: s.double("weight_decay", default: 0, .nonNegative),
                  eps: s.double("eps", default: 1e-8, .positive),
                  maxGradNorm: s.optionalDouble("max_grad_norm", default: 1, .positive),
                  lrSchedule: s.choice("lr_schedule", in: TrainConfig.lrSchedules, default: "constant"),
                  warmupSteps: s.int("warmup_steps", default: 0, min: 0),
                  emaDecay: s.optionalDouble("ema_decay", default: 0.9999, .closedUnit))
    }
}

extension TrainConfig.Training {
    init(_ s: YAMLSection) {
        self.init(batchSize: s.int("batch_size", min: 1),
                  gradientAccumulationSteps: s.int("gradient_accumulation_steps", default: 1, min: 1),
                  maxSteps: s.optionalInt("max_steps", min: 1), numEpochs: s.optionalInt("num_epochs", min: 1),
                  // YAML 1.1 reads an unquoted `no` as false.
                  mixedPrecision: s.choice("mixed_precision", default: .no, falseMeans: .no))
        if s.valid("max_steps", "num_epochs") && (maxSteps == nil) == (numEpochs == nil) {
            s.fail("max_steps", "set exactly one of max_steps and num_epochs ("
                + (maxSteps == nil ? "neither is set)" : "both are set)"))
        }
    }
}

/// What a number must satisfy: `check` returns nil when the value is acceptable, else what was expected.
struct NumberRule: Sendable {
    let check: @Sendable (Double) -> String?
    static let positive = NumberRule { $0 > 0 ? nil : "must be > 0" }
    static let nonNegative = NumberRule { $0 >= 0 ? nil : "must be >= 0" }
    static let halfOpenUnit = NumberRule { (0..<1).contains($0) ? nil : "must be in [0, 1)" }
    static let closedUnit = NumberRule { (0...1).contains($0) ? nil : "must be in [0, 1]" }
    static func atLeast(_ bound: Double) -> NumberRule { NumberRule { $0 >= bound ? nil : "must be >= \(bound)" } }
}
