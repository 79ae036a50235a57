import Core
import Datasets
import Foundation
import Models
import Recipe
import Schedulers
import Tokenizers
import Torch

/// A finished (or interrupted) run loaded for sampling: its config, tokenizer and the networks of one checkpoint,
/// with the EMA weights by default.
public struct TrainedRun {
    public let config: TrainConfig
    public let checkpoint: URL
    public let tokenizer: Tokenizer
    public let models: DiffusionModels
    public let vae: AutoencoderKL?
    /// The frozen encoder whose features the run trained on (nil when the encoder was trained with the DiT).
    public let frozenEncoder: (any CaptionEncoder)?
    public let device: Device

    /// `path` is a checkpoint directory (runs/NAME/checkpoints/step-N) or a run directory (its latest checkpoint).
    public init(path: URL, useEMA: Bool = true, device: Device = .cpu) throws {
        try DevicePreflight.check(device)
        guard let checkpoint = Checkpoint.resolve(path) else {
            throw FileError(path: path.path, "neither a checkpoint (no \(Checkpoint.stateFile)) nor a run with checkpoints/")
        }
        self.checkpoint = checkpoint
        let run = checkpoint.deletingLastPathComponent().deletingLastPathComponent()
        // Its paths resolved, so the VAE and text encoder are found from any working directory.
        config = try TrainConfig.ofRun(run)
        tokenizer = try Tokenizer(contentsOf: run.appendingPathComponent("tokenizer.json"))
        self.device = device
        let loaded = try Checkpoint.load(checkpoint)
        let weights = useEMA ? (loaded.ema ?? loaded.model) : loaded.model
        let frozen = try Components.frozenParts(config, device: device)
        (vae, frozenEncoder) = (frozen.vae, frozen.textEncoder)
        models = try DiffusionModels(config: config, tokenizer: tokenizer, cachedTextDim: frozenEncoder?.featureWidth)
        try ModelDirectory.load(weights, into: models, source: checkpoint.path)
        try models.to(device)
    }

    /// Where to load the run at `path` when no device is asked for: the device it trained on when that works here,
    /// else the CPU. `note` says what was chosen and why (nil when the run trained on the CPU).
    public static func defaultDevice(for path: URL) -> (device: Device, note: String?) {
        guard let checkpoint = Checkpoint.resolve(path),
              let config = try? TrainConfig.ofRun(checkpoint.deletingLastPathComponent().deletingLastPathComponent()),
              config.run.device != .cpu else { return (.cpu, nil) }
        do {
            try DevicePreflight.check(config.run.device)
            return (config.run.device, "device: \(config.run.device), the one the run trained on (--device to choose)")
        } catch {
            return (.cpu, "device: cpu; the run trained on \(config.run.device), which cannot be used here (\(error))")
        }
    }

    public var pipeline: TextToImagePipeline {
        TextToImagePipeline(transformer: models.transformer, textEncoder: models.textEncoder ?? frozenEncoder,
                            tokenizer: tokenizer, maxLength: config.textEncoder.maxLength, vae: vae, device: device)
    }

    /// `dit generate`: `numImages` images per prompt (prompt by prompt), with the config's sampler unless `sampler`
    /// overrides it; `eta` is DDIM's noise weight (0: deterministic).
    public func generate(_ prompts: [String], numImages: Int = 1, sampler: TrainConfig.Sampler? = nil, steps: Int,
                         cfgScale: Double, seed: UInt64, negativePrompt: String = "", batchSize: Int? = nil,
                         eta: Double = 0) throws -> [RGBImage] {
        let scheduler = try Components.sampler(config, override: sampler)
        if let ddim = scheduler as? DDIMScheduler {
            ddim.eta = eta
        } else if eta != 0 {
            throw SamplingError("eta is DDIM's noise weight; the \(type(of: scheduler).className) sampler has none")
        }
        let all = prompts.flatMap { Array(repeating: $0, count: numImages) }
        return try TextToImagePipeline.images(
            try pipeline.generate(all, scheduler: scheduler, steps: steps, guidanceScale: cfgScale, seed: seed,
                                  negativePrompt: negativePrompt, batchSize: batchSize))
    }

    /// One prompt's denoising, step by step: the sample after each step and the clean image the model predicted at
    /// it (x̂₀), both decoded to images, with the timesteps. The last sample is what `generate` returns for the same
    /// seed and settings.
    public func trajectory(_ prompt: String, sampler: TrainConfig.Sampler? = nil, steps: Int, cfgScale: Double,
                           seed: UInt64, negativePrompt: String = "")
        throws -> (timesteps: [Double], samples: [RGBImage], predictions: [RGBImage])
    {
        var timesteps: [Double] = [], samples: [RGBImage] = [], predictions: [RGBImage] = []
        _ = try observedGeneration(prompt, negativePrompt: negativePrompt, sampler: sampler, steps: steps,
                                   cfgScale: cfgScale, seed: seed, recordAttention: false) { step in
            guard let x0 = try step.prediction() else {
                throw SamplingError("the \((sampler ?? config.run.sampler).schedulerClass.className) sampler gives no clean-sample estimate")
            }
            timesteps.append(step.timestep)
            samples.append(try step.sample())
            predictions.append(x0)
        }
        return (timesteps, samples, predictions)
    }

    /// Images in rows of `columns`, each with its label (nil: none), at the size `grid(_:prompts:)` draws them.
    public func grid(_ images: [RGBImage], columns: Int, labels: [String]?) -> RGBImage {
        imageGrid(images, columns: columns, scale: max(1, 128 / config.data.imageSize), labels: labels)
    }

    /// The images of `generate` as one grid: a row per prompt when there are several images each, prompts as labels.
    public func grid(_ images: [RGBImage], prompts: [String], numImages: Int = 1, labels: Bool = true) -> RGBImage {
        imageGrid(images, columns: numImages > 1 ? numImages : min(4, images.count),
                  scale: max(1, 128 / config.data.imageSize),
                  labels: labels ? prompts.flatMap { Array(repeating: $0, count: numImages) } : nil)
    }
}
