import Core
import Foundation
import Models
import Schedulers
import Torch

extension TrainConfig {
    /// text_encoder.type: a new text encoder is a case here and a line in `Components.textEncoder(_:from:device:)`.
    public enum TextEncoderType: String, ConfigChoice {
        /// CLIP's text transformer: new (trained with the DiT) without a path, else a pretrained CLIPTextModel.
        case clip
        /// A BERT-family sentence encoder such as all-MiniLM-L6-v2, always pretrained and frozen.
        case minilm

        /// The width of the encoder's output when the type alone tells it (all-MiniLM-L6-v2's 384; another BERT may
        /// differ, and the trainer then uses the loaded encoder's real width).
        public var knownWidth: Int? { self == .minilm ? 384 : nil }
    }
}

/// The one factory of the recipe: what a config's text_encoder, vae and scheduler sections build, for `dit prepare`,
/// the trainer's sample grids, `dit generate` and `dit export` alike. A new text encoder is a case of
/// `TrainConfig.TextEncoderType` (above) and a line in `textEncoder(_:from:device:)`; a new scheduler is a class in
/// Schedulers' `SchedulerFactory`.
public enum Components {
    /// The frozen networks a run samples and prepares through.
    public struct FrozenParts {
        /// Decodes latents to images (nil in pixel space).
        public let vae: AutoencoderKL?
        /// Encodes prompts when the encoder was not trained with the DiT (nil for a jointly trained one).
        public let textEncoder: (any CaptionEncoder)?
    }

    /// The VAE and the frozen text encoder `c` names, on `device` (the VAE in `vaeDType`).
    public static func frozenParts(_ c: TrainConfig, device: Device, vaeDType: DType = .float32) throws -> FrozenParts {
        let vae = try c.vaeDirectory().map { try AutoencoderKL.load(from: $0, device: device, dtype: vaeDType) }
        let encoder = try c.textEncoderDirectory().map { try textEncoder(c.textEncoder.type, from: $0, device: device) }
        return FrozenParts(vae: vae, textEncoder: encoder)
    }

    /// A pretrained text encoder of `type` from a transformers directory.
    public static func textEncoder(_ type: TrainConfig.TextEncoderType, from directory: URL, device: Device) throws
        -> any CaptionEncoder {
        switch type {
        case .clip: try CLIPTextModel.load(from: directory, device: device)
        case .minilm: try BertModel.load(from: directory, device: device)
        }
    }

    /// The width of the features a pretrained text encoder of `type` in `directory` produces, from its config.json
    /// alone (what a run checks before it starts; the weights load later).
    public static func textEncoderWidth(_ type: TrainConfig.TextEncoderType, in directory: URL) throws -> Int {
        let file = directory.appendingPathComponent("config.json")
        switch type {
        case .clip: return try CLIPTextConfig.load(file).hiddenSize
        case .minilm: return try BertConfig.load(file).hiddenSize
        }
    }

    /// The forward process the run trains with: DDPM's for epsilon and v, the flow's for flow.
    public static func trainingScheduler(_ c: TrainConfig) throws -> any NoiseScheduler {
        try trainingScheduler(c.scheduler, pixelSpace: c.vae == nil)
    }

    /// The forward process of a scheduler section (`dit noise` and `dit plot` draw it without a whole config).
    public static func trainingScheduler(_ s: TrainConfig.Scheduler, pixelSpace: Bool) throws -> any NoiseScheduler {
        let className = s.objective == .flow ? FlowMatchEulerDiscreteScheduler.className : DDPMScheduler.className
        return try SchedulerFactory.make(className, config: schedulerKeys(s, pixelSpace: pixelSpace, className: className),
                                         file: "the config's scheduler section")
    }

    /// The sampler the run generates with (`override`, else run.sampler), set up for its noise process.
    public static func sampler(_ c: TrainConfig, override: TrainConfig.Sampler? = nil) throws -> any NoiseScheduler {
        let sampler = override ?? c.run.sampler
        guard c.scheduler.objective.samplers.contains(sampler) else {
            throw SamplingError("the \(sampler) sampler cannot sample the \(c.scheduler.objective.rawValue) objective "
                + "(expected " + c.scheduler.objective.samplers.map(\.rawValue).joined(separator: " or ") + ")")
        }
        let className = sampler.schedulerClass.className
        return try SchedulerFactory.make(className, config: schedulerKeys(c.scheduler, pixelSpace: c.vae == nil,
                                                                          className: className),
                                         file: "the config's scheduler section")
    }

    /// The scheduler_config.json keys of this run's noise process for `className`; each class reads those it has
    /// (as diffusers' from_config does), so one set serves the forward process and every sampler.
    static func schedulerKeys(_ s: TrainConfig.Scheduler, pixelSpace: Bool, className: String) -> JSONObject {
        var keys: JSONObject = [
            "num_train_timesteps": .integer(s.numTrainTimesteps),
            "beta_schedule": .string(s.betaSchedule),
            "shift": .number("\(s.shift)"),
        ]
        if s.objective != .flow { keys["prediction_type"] = .string(s.objective.predictionType.rawValue) }
        // DDPM and DDIM as DiTKit uses them: pixel space clipped to [−1, 1] (latents are unbounded), "trailing"
        // spacing so that sampling starts from the last trained timestep, and DDIM's final step to ᾱ at t = 0.
        if className == DDPMScheduler.className || className == DDIMScheduler.className {
            keys["clip_sample"] = .bool(pixelSpace)
            keys["timestep_spacing"] = .string("trailing")
        }
        if className == DDIMScheduler.className { keys["set_alpha_to_one"] = .bool(false) }
        return keys
    }
}
