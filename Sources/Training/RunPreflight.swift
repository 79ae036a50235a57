import Core
import Foundation
import Models
import Recipe
import Tokenizers
import Torch

/// Everything a run will need, checked before any data or model loads and reported together: the device, the cache
/// and its agreement with the config, the VAE and the text encoder the sample grids and `dit generate` load, a place
/// to write the run, and a schedule that makes sense. What would fail later (at the first sample grid, two hours in)
/// is an error now; what only looks wrong is a warning, printed before training.
public struct RunPreflight {
    /// What stops the run, each naming the key or path and the fix.
    public private(set) var problems: [Error] = []
    /// What the run survives but the learner should know.
    public private(set) var warnings: [String] = []
    /// The cache's manifest, when it could be read.
    public private(set) var manifest: CacheManifest?

    /// A dry run (`dryRun`) writes nothing and needs neither a cache nor weights: without a cache it measures random
    /// data of the cache's shapes (`syntheticCache`), and a model directory needs only its config.json.
    public private(set) var syntheticCache: CachedDataset?
    private let dryRun: Bool

    public init(config c: TrainConfig, device: Device, worldSize: Int = 1, dryRun: Bool = false) {
        self.dryRun = dryRun
        do { try DevicePreflight.check(device) } catch { problems.append(error) }
        if c.training.batchSize % worldSize != 0 {
            problems.append(ConfigError(file: "config", key: "training.batch_size", "the global batch "
                + "\(c.training.batchSize) does not split evenly over \(worldSize) processes"))
        }
        let hasCache = FileManager.default.fileExists(atPath: URL(fileURLWithPath: c.data.cache)
            .appendingPathComponent("manifest.json").path)
        if hasCache || !dryRun { checkCache(c) }
        var textWidth: Int?
        checkVAE(c)
        checkTextEncoder(c, width: &textWidth)
        if !dryRun, let why = OutputLocation.problemCreating(c.run.directory) {
            problems.append(ConfigError(file: c.run.directory.path, key: "run.output_dir", "cannot write the run here: \(why)"))
        }
        if !hasCache && dryRun && problems.isEmpty {
            do {
                syntheticCache = try Self.synthetic(c, textWidth: textWidth)
                manifest = syntheticCache?.manifest
                warnings.append("no cache at data.cache \(c.data.cache): the dry run measures random data of the "
                    + "cache's shapes (\(syntheticCache!.manifest.kind) \(syntheticCache!.manifest.sampleShape)"
                    + (textWidth.map { ", text features \(c.textEncoder.maxLength) × \($0)" } ?? "") + ")")
            } catch { problems.append(error) }
        }
        if let manifest, !dryRun || hasCache { checkSchedule(c, count: manifest.count, worldSize: worldSize) }
    }

    /// Random tensors shaped as `dit prepare` would cache them for `c`: one optimizer step's worth of images.
    static func synthetic(_ c: TrainConfig, textWidth: Int?) throws -> CachedDataset {
        var m = CacheManifest()
        m.kind = c.vae == nil ? "pixels" : "latents"
        m.imageSize = c.data.imageSize
        m.sampleShape = [c.model.inChannels, c.model.sampleSize, c.model.sampleSize]
        m.count = max(c.training.batchSize, c.training.effectiveBatchSize)
        m.captionCount = m.count
        m.maxLength = c.textEncoder.maxLength
        m.textEmbeddingDim = textWidth
        (m.flip, m.crops) = (c.data.randomFlip, c.data.randomCrops)
        m.source = "synthetic (dit train --dry-run without a cache)"
        // The encoder's own tokenizer when its folder has one; else a vocabulary of the sample prompts' words.
        let own = try c.textEncoderDirectory()?.appendingPathComponent("tokenizer.json")
        let tokenizer = try own.flatMap { FileManager.default.fileExists(atPath: $0.path) ? try Tokenizer(contentsOf: $0) : nil }
            ?? Tokenizer(json: Data(CaptionVocabulary.tokenizerJSON(captions: c.run.samplePrompts + ["a"]).utf8),
                         source: "the dry run's stand-in vocabulary")
        return try CachedDataset(synthetic: m, tokenizer: tokenizer, textWidth: textWidth)
    }

    /// Throws the one problem as it is, or every problem in one error.
    public func requireNoProblems() throws {
        if problems.count == 1 { throw problems[0] }
        guard problems.isEmpty else {
            throw TrainingError("the run cannot start; \(problems.count) problems were found before the first step:\n"
                + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
    }

    private mutating func checkCache(_ c: TrainConfig) {
        let m: CacheManifest
        do {
            guard let read = try CacheManifest.read(from: URL(fileURLWithPath: c.data.cache)) else {
                problems.append(ConfigError(file: c.data.cache, key: "data.cache", "no cache here (no manifest.json): run "
                    + "`dit prepare --config …` first, or point data.cache at the folder it wrote"))
                return
            }
            m = read
        } catch {
            problems.append(error)
            return
        }
        // The files besides the shards that the run reads (its tokenizer is also copied into the run).
        for name in ["tokenizer.json", "captions.jsonl", "empty_caption.safetensors"]
        where !FileManager.default.fileExists(atPath: URL(fileURLWithPath: c.data.cache).appendingPathComponent(name).path) {
            problems.append(FileError(path: c.data.cache, "data.cache: the cache has no \(name) (an unfinished or "
                + "damaged cache): run `dit prepare` again"))
        }
        manifest = m
        do { try Self.check(c, m) } catch { problems.append(error) }
    }

    private mutating func checkVAE(_ c: TrainConfig) {
        guard let vae = c.vae else { return }
        let dir: URL
        do { dir = try ModelLocation.resolve(vae.path, key: "vae.path") } catch { problems.append(error); return }
        if let why = ModelDirectory.problem(dir, weightsName: dryRun ? nil : AutoencoderKL.weightsName) {
            problems.append(ConfigError(file: vae.path, key: "vae.path", "\(why) (expected a diffusers AutoencoderKL "
                + "folder such as models/sd-vae-ft-mse)"))
            return
        }
        do {
            try c.checkLatentSize(vae: try AutoencoderKLConfig(contentsOf: dir.appendingPathComponent("config.json")),
                                  file: vae.path)
        } catch { problems.append(error) }
    }

    /// A frozen encoder is not needed for the training steps (the cache holds its features), but every sample grid
    /// and `dit generate` encodes prompts with it: a wrong path would surface only at the first grid.
    private mutating func checkTextEncoder(_ c: TrainConfig, width found: inout Int?) {
        guard let path = c.textEncoder.path else { return }
        let dir: URL
        do { dir = try ModelLocation.resolve(path, key: "text_encoder.path") } catch { problems.append(error); return }
        if let why = ModelDirectory.problem(dir, weightsName: dryRun ? nil : TextEncoderWeights.weightsName) {
            problems.append(ConfigError(file: path, key: "text_encoder.path", "\(why) (the run's sample grids and "
                + "`dit generate` encode prompts with this \(c.textEncoder.type.rawValue) encoder)"))
            return
        }
        do {
            let width = try Components.textEncoderWidth(c.textEncoder.type, in: dir)
            found = width
            if let cached = manifest?.textEmbeddingDim, cached != width {
                problems.append(ConfigError(file: path, key: "text_encoder.path", "this encoder's features are \(width) "
                    + "wide, the cache's are \(cached): not the encoder the cache was prepared with"))
            }
        } catch { problems.append(error) }
    }

    /// Optimizer steps of a run over `count` images: max_steps, or num_epochs × full optimizer steps per epoch.
    public static func totalSteps(_ c: TrainConfig, count: Int) -> Int {
        let stepsPerEpoch = max(1, count / c.training.effectiveBatchSize)
        return c.training.maxSteps ?? (c.training.numEpochs ?? 1) * stepsPerEpoch
    }

    private mutating func checkSchedule(_ c: TrainConfig, count: Int, worldSize: Int) {
        let t = c.training, o = c.optimizer, r = c.run
        let total = Self.totalSteps(c, count: count)
        let steps = t.maxSteps != nil ? "the run's \(total) steps"
            : "the run's \(total) steps (num_epochs \(t.numEpochs ?? 1) × \(max(1, count / t.effectiveBatchSize)) per epoch)"
        if count < t.batchSize {
            if worldSize > 1 && count % worldSize != 0 {
                problems.append(ConfigError(file: c.data.cache, key: "training.batch_size", "the cache holds \(count) "
                    + "images, fewer than one batch (\(t.batchSize)), and they do not split evenly over \(worldSize) processes"))
            } else {
                warnings.append("the cache holds \(count) images, fewer than one batch (training.batch_size \(t.batchSize)): "
                    + "every micro-batch is all \(count) of them")
            }
        } else if count < t.effectiveBatchSize {
            warnings.append("the cache holds \(count) images, fewer than one optimizer step draws (batch_size "
                + "\(t.batchSize) × gradient_accumulation_steps \(t.gradientAccumulationSteps)): images repeat within a step")
        }
        if o.warmupSteps > 0 && o.lrSchedule == "constant" {
            warnings.append("optimizer.warmup_steps \(o.warmupSteps) has no effect: lr_schedule constant has no warm-up "
                + "(as in diffusers); use constant_with_warmup")
        } else if o.warmupSteps >= total && o.warmupSteps > 0 {
            warnings.append("optimizer.warmup_steps \(o.warmupSteps) ≥ \(steps): the learning rate never leaves warm-up "
                + String(format: "(it ends at %.0f%% of learning_rate)", 100 * Double(total) / Double(o.warmupSteps))
                + "; lower warmup_steps (a few percent of the steps is usual) or train longer")
        }
        if r.checkpointEvery > total {
            warnings.append("run.checkpoint_every \(r.checkpointEvery) is beyond the last step (\(total)): the only "
                + "checkpoint is the final one (Ctrl-C still writes one)")
        }
        if r.sampleEvery > total && !r.samplePrompts.isEmpty {
            warnings.append("run.sample_every \(r.sampleEvery) is beyond the last step (\(total)): the only sample grid "
                + "is the final one")
        }
    }

    /// The cache agrees with the config: what `dit prepare` baked in (size, shape, captions, augmentations, features).
    static func check(_ c: TrainConfig, _ m: CacheManifest) throws {
        let cache = c.data.cache + "/manifest.json"
        guard m.imageSize == c.data.imageSize else {
            throw ConfigError(file: cache, key: "image_size", "the cache holds \(m.imageSize)-pixel images, the config says data.image_size \(c.data.imageSize)")
        }
        guard m.sampleShape.count == 3, m.sampleShape[0] == c.model.inChannels, m.sampleShape[1] == c.model.sampleSize else {
            throw ConfigError(file: cache, key: "sample_shape", "samples are \(m.sampleShape), the model expects [\(c.model.inChannels), \(c.model.sampleSize), \(c.model.sampleSize)]")
        }
        guard (c.vae != nil) == (m.kind == "latents") else {
            throw ConfigError(file: cache, key: "kind", "the cache holds \(m.kind), but the config \(c.vae == nil ? "has no vae" : "uses a vae")")
        }
        guard m.maxLength == c.textEncoder.maxLength else {
            throw ConfigError(file: cache, key: "max_length", "captions were tokenized to \(m.maxLength), text_encoder.max_length is \(c.textEncoder.maxLength)")
        }
        // Augmentations and frozen features are baked into the cache: a config that disagrees needs a new prepare.
        guard m.flip == c.data.randomFlip, m.crops == c.data.randomCrops else {
            throw ConfigError(file: cache, key: "views", "the cache holds flip \(m.flip) and \(m.crops) random crops, the "
                + "config says random_flip \(c.data.randomFlip) and random_crops \(c.data.randomCrops): run `dit prepare` again")
        }
        guard (m.textEmbeddingDim != nil) == (c.textEncoder.path != nil) else {
            throw ConfigError(file: cache, key: "text_embedding_dim", m.textEmbeddingDim == nil
                ? "the cache has no text features, but text_encoder.path names a frozen encoder: run `dit prepare` again"
                : "the cache holds frozen text features, but the config trains a new text encoder: run `dit prepare` again")
        }
    }
}
