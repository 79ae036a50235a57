import Datasets
import Foundation
import Models
import Pipeline
import Schedulers
import Support
import Tokenizers
import Torch

/// A training run: runs/NAME/{config.yaml, tokenizer.json, checkpoints/step-N/, logs/ (TensorBoard), samples/}.
/// Everything random comes from the global torch generator (saved in checkpoints) and the data order from a
/// per-epoch permutation, so a resumed run repeats the uninterrupted one bit for bit.
///
/// Several processes (a `DistributedEnvironment` with WORLD_SIZE > 1) train one run data-parallel: `batch_size` is
/// the global batch, every rank draws the whole batch's indices, noise, timesteps and caption dropout from the
/// shared seed and computes its slice, and gradients are averaged across ranks. The result does not depend on the
/// number of processes, and a checkpoint (written by rank 0) resumes with any number of them.
public final class Trainer {
    public let config: TrainConfig
    public let runDirectory: URL
    public let data: CachedDataset
    public let tokenizer: Tokenizer
    public let models: DiffusionModels
    public let optimizer: AdamW
    public let ema: EMA?
    /// fp16 only: dynamic loss scaling (bf16 has float32's range and needs none).
    public let scaler: GradScaler?
    let scheduler: any NoiseScheduler
    let schedule: LRSchedule
    let device: Device
    /// What caption dropout puts in: the empty caption's ids, mask and cached features, as `dit prepare` encoded them
    /// (the same that classifier-free guidance samples against).
    let emptyCaption: (ids: Tensor, mask: Tensor, text: Tensor?)
    /// The VAE and frozen text encoder that sample grids go through (loaded on the first grid).
    private var frozen: (vae: AutoencoderKL?, textEncoder: (any CaptionEncoder)?)?
    /// The VAE's scaling and shift factors for latent caches (1 and none in pixel space).
    let latentScaling: (scale: Double, shift: Double?)
    public private(set) var state: TrainerState
    public let totalSteps: Int
    var order: [Int64] = []
    /// Called after each optimizer step with (step, loss); tests use it to stop a run early.
    public var onStep: ((Int, Double) throws -> Void)?
    public var quiet = false
    public let distributed: DistributedEnvironment
    /// The gradient averaging across ranks (nil when training alone).
    let parallel: DataParallel?
    /// Rank 0 writes the run's files and shows progress; the other ranks only compute.
    var isMain: Bool { distributed.isMain }

    public var checkpointsDirectory: URL { config.run.checkpointsDirectory }

    /// `resume` continues a run (same model, data and noise setup); `initFrom` starts a new run — step 0, fresh
    /// optimizer, any data — from a checkpoint's weights (its EMA weights when it has them): fine-tuning.
    public init(config: TrainConfig, resume: URL? = nil, initFrom: URL? = nil,
                distributed: DistributedEnvironment = .single) throws {
        self.config = config
        self.distributed = distributed
        device = distributed.device(for: config.run.device)
        let batch = config.training.batchSize
        guard batch % distributed.worldSize == 0 else {
            throw ConfigError(file: "config", key: "training.batch_size",
                              "the global batch \(batch) does not split evenly over \(distributed.worldSize) processes")
        }
        // Join the other ranks first: a wrong address or a missing peer fails now, not after loading the data.
        parallel = try distributed.processGroup(device: device, timeout: config.run.distributedTimeout)
            .map(DataParallel.init(group:))
        if config.run.threads > 0 { Runtime.threads = config.run.threads }
        runDirectory = config.run.directory
        data = try CachedDataset(directory: URL(fileURLWithPath: config.data.cache))
        tokenizer = try Tokenizer(contentsOf: data.tokenizerURL)
        try Trainer.check(config, data)
        if let vae = config.vae {
            let c = try AutoencoderKLConfig(contentsOf: URL(fileURLWithPath: vae.path).appendingPathComponent("config.json"))
            try config.checkLatentSize(vae: c, file: vae.path)
            latentScaling = (c.scalingFactor, c.shiftFactor)
        } else {
            latentScaling = (1, nil)
        }

        manualSeed(UInt64(config.run.seed))
        models = try DiffusionModels(config: config, tokenizer: tokenizer, cachedTextDim: data.manifest.textEmbeddingDim)
        try models.to(device)
        if let initFrom {
            guard resume == nil else {
                throw ConfigError(file: initFrom.path, "--init-from starts a new run and --resume continues one: give one of them")
            }
            let loaded = try Checkpoint.load(initFrom)
            let name = loaded.ema == nil ? "model.safetensors" : "ema.safetensors"
            try ModelDirectory.load(loaded.ema ?? loaded.model, into: models, source: initFrom.appendingPathComponent(name).path)
        }
        // Every rank drew the same initial weights from the shared seed; rank 0's are made the truth anyway, as DDP
        // does, so no rank can start from a different model.
        try parallel?.broadcast(models.stateDict().map(\.1))
        if let textEncoder = models.textEncoder, !config.textEncoder.trainable {
            try textEncoder.parameters().forEach { try $0.requiresGrad(false) }
        }
        let trainable = models.namedParameters().filter { $0.1.requiresGrad }
        let o = config.optimizer
        optimizer = try AdamW(trainable, lr: o.learningRate, betas: (o.betas[0], o.betas[1]), eps: o.eps, weightDecay: o.weightDecay)
        let allModels = models
        ema = try o.emaDecay.map { try EMA(allModels, decay: $0) }
        scaler = config.training.mixedPrecision == .fp16 ? GradScaler() : nil
        scheduler = try DiffusionSetup.trainingScheduler(config)
        let stepsPerEpoch = max(1, data.count / (config.training.batchSize * config.training.gradientAccumulationSteps))
        totalSteps = config.training.maxSteps ?? (config.training.numEpochs ?? 1) * stepsPerEpoch
        schedule = try LRSchedule(name: o.lrSchedule, warmupSteps: o.warmupSteps, totalSteps: totalSteps)
        let empty = data.emptyCaption
        emptyCaption = (try empty.ids.to(device), try empty.mask.to(device), try empty.text?.to(device))
        state = TrainerState(step: 0, epoch: 0, position: 0, rngState: "", configHash: config.architectureHash)

        if let resume {
            try restore(from: resume)
        }
    }

    static func check(_ c: TrainConfig, _ d: CachedDataset) throws {
        let m = d.manifest
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

    // MARK: Data order

    func ensureOrder() throws {
        if order.isEmpty || state.position + config.training.batchSize > order.count {
            if !order.isEmpty { state.epoch += 1; state.position = 0 }
            let g = try Generator(seed: UInt64(config.run.seed) &+ UInt64(state.epoch) &* 1_000_003)
            order = try Tensor.randperm(data.count, generator: g).toArray(Int64.self)
        }
    }

    /// The global batch's indices (the same on every rank).
    func nextIndices() throws -> [Int64] {
        try ensureOrder()
        let b = min(config.training.batchSize, data.count)
        let slice = Array(order[state.position..<(state.position + b)])
        state.position += b
        return slice
    }

    /// This rank's rows of a global batch: rank r of w takes the r-th of w equal parts.
    func localRows(of globalBatch: Int) -> Range<Int> {
        let per = globalBatch / distributed.worldSize
        return distributed.rank * per..<(distributed.rank + 1) * per
    }

    // MARK: Loop

    /// Trains until the configured number of steps; returns the last loss.
    @discardableResult
    public func train() throws -> Double {
        var lock: RunLock?
        var logs: TensorBoardWriter?
        Interrupt.install()
        defer {
            Interrupt.remove()
            withExtendedLifetime(lock) {}
        }
        if isMain {
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            lock = try RunLock(directory: runDirectory)
            AtomicFile.removeLeftovers(in: runDirectory)
            try AtomicFile.write(config.canonicalYAML, to: runDirectory.appendingPathComponent("config.yaml"))
            try AtomicFile.write(try String(contentsOf: data.tokenizerURL, encoding: .utf8),
                                 to: runDirectory.appendingPathComponent("tokenizer.json"))
            // A full disk is found now, not at the first checkpoint hours from now.
            try DiskSpace.require(checkpointSpaceNeeded(), at: checkpointsDirectory,
                                  for: "the checkpoints of this run (\(config.run.keepLast) kept, one more while writing)")
            logs = try TensorBoardWriter(directory: runDirectory.appendingPathComponent("logs"))
        }
        // The other ranks start once rank 0 holds the run (a second run on the same directory stops them too).
        try parallel?.barrier()
        let quiet = self.quiet || !isMain
        let progress = ProgressDisplay(total: totalSteps, startStep: state.step, logEvery: config.run.logEvery,
                                       imagesPerStep: config.training.batchSize * config.training.gradientAccumulationSteps)
        var lastLoss = Double.nan
        while state.step < totalSteps {
            let step = try optimizerStep()
            let (stepLoss, lr, gradNorm, stopRequested) = (step.loss, step.lr, step.gradNorm, step.stopRequested)
            lastLoss = stepLoss
            if !quiet { progress.update(step: state.step, loss: stepLoss, lr: lr) }
            if let logs, state.step % config.run.logEvery == 0 || state.step == totalSteps {
                try logs.scalar("train/loss", stepLoss, step: state.step)
                try logs.scalar("train/lr", lr, step: state.step)
                try logs.scalar("train/grad_norm", gradNorm, step: state.step)
                try logs.scalar("train/it_per_sec", progress.rate(at: state.step), step: state.step)
                if let scaler { try logs.scalar("train/loss_scale", scaler.scale, step: state.step) }
            }
            // The checkpoint first: a sample grid that fails must not cost the step's weights.
            let checkpointNow = config.run.checkpointEvery > 0 && state.step % config.run.checkpointEvery == 0
            if checkpointNow || state.step == totalSteps {
                let url = try checkpoint()
                if !quiet { progress.message("checkpoint \(url.path)") }
            }
            let sampleNow = config.run.sampleEvery > 0 && state.step % config.run.sampleEvery == 0
            if let logs, (sampleNow || state.step == totalSteps) && !config.run.samplePrompts.isEmpty {
                do {
                    let grid = try sampleGrid()
                    let url = runDirectory.appendingPathComponent("samples/step-\(state.step).png")
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try PNG.write(grid, to: url)
                    try logs.image("samples", png: try PNG.encode(grid), width: grid.width, height: grid.height, step: state.step)
                } catch {
                    // Sampling is a view of training, not part of it: say what failed and train on.
                    progress.message("warning: the sample grid at step \(state.step) failed: \(error)")
                }
            }
            try onStep?(state.step, stepLoss)
            if stopRequested && state.step < totalSteps {
                let url = checkpointNow ? Checkpoint.latest(in: checkpointsDirectory)! : try checkpoint()
                if isMain { progress.message("interrupted at step \(state.step): checkpoint \(url.path) (continue with --resume)") }
                throw TrainingInterrupted(step: state.step, checkpoint: url)
            }
        }
        return lastLoss
    }

    /// One micro-batch: noise the clean samples, predict, and return the loss against the objective's target.
    /// One optimizer step: the micro-batches' forward and backward passes, the gradient average across ranks,
    /// clipping, AdamW and EMA. Stops with the last good checkpoint named when the loss or gradients are not finite.
    func optimizerStep() throws -> (loss: Double, lr: Double, gradNorm: Double, stopRequested: Bool) {
        let accumulation = config.training.gradientAccumulationSteps
        let params = optimizer.parameters.map(\.1)
        let lr = config.optimizer.learningRate * schedule.multiplier(at: state.step)
        optimizer.lr = lr
        var stepLoss = 0.0
        for _ in 0..<accumulation {
            let loss = try microBatchLoss() / Double(accumulation)
            try (scaler?.scaled(loss) ?? loss).backward()
            stepLoss += try loss.item()
        }
        // Ranks agree on the loss (their mean, the global batch's loss) and on whether to stop, so that a NaN
        // or Ctrl-C seen by one rank stops all of them at the same step.
        var stopRequested = Interrupt.isRequested
        if let parallel {
            try parallel.averageGradients(params)
            let agreed = try parallel.mean([stepLoss, stopRequested ? 1 : 0])
            stepLoss = agreed[0]
            stopRequested = agreed[1] > 0
        }
        // fp16: an overflow in the forward pass is the scaler's to handle (the step is skipped, the scale backs off).
        guard stepLoss.isFinite || scaler != nil else {
            throw TorchError("loss became \(stepLoss.isNaN ? "NaN" : "\(stepLoss)") at step \(state.step + 1); training stopped. "
                + lastGoodCheckpoint())
        }
        // fp16: unscale before clipping; an overflowed step is skipped and the scale backs off.
        let overflow = try scaler?.unscale(params) ?? false
        let gradNorm = try config.optimizer.maxGradNorm.map { try clipGradNorm(params, maxNorm: $0) }
            ?? clipGradNorm(params, maxNorm: .infinity)  // measures the norm, scales by 1
        // A finite loss can still hide a NaN gradient (0 × inf in backward); stepping on it would poison the
        // weights, and the next checkpoint with them. fp16 runs leave this to the scaler (an overflowed step).
        guard gradNorm.isFinite || scaler != nil else {
            throw TorchError("the gradient norm became \(gradNorm.isNaN ? "NaN" : "\(gradNorm)") at step \(state.step + 1) (loss \(stepLoss)); "
                + "training stopped before the weights were changed. " + lastGoodCheckpoint())
        }
        if !overflow { try optimizer.step() }
        scaler?.update(foundInf: overflow)
        optimizer.zeroGrad()
        state.step += 1
        try ema?.update(step: state.step)
        state.loss = stepLoss
        return (stepLoss, lr, gradNorm, stopRequested)
    }

    /// Randomness is drawn for the global batch and sliced, so each sample's noise, timestep and dropout are the
    /// same whatever the number of ranks.
    func microBatchLoss() throws -> Tensor {
        let indices = try nextIndices()
        let rows = localRows(of: indices.count)
        let local = { (t: Tensor) throws -> Tensor in
            rows.count == indices.count ? t : try t.slice(dim: 0, start: rows.lowerBound, end: rows.upperBound)
        }
        let batch = try data.batch(try Tensor(Array(indices[rows])), device: device,
                                   scalingFactor: latentScaling.scale, shiftFactor: latentScaling.shift)
        let b = batch.x.size(0)
        var ids = batch.ids, mask = batch.mask, cached = batch.text
        if config.data.captionDropout > 0 {
            // Dropped captions become the empty caption, which classifier-free guidance samples against.
            let drop = try local(Tensor.rand([indices.count], device: device)).lt(config.data.captionDropout)
            let rows = try drop.reshaped(b, 1)
            ids = try Tensor.where(rows, emptyCaption.ids.expanded([b, ids.size(1)]), ids)
            mask = try Tensor.where(rows, emptyCaption.mask.expanded([b, mask.size(1)]), mask)
            if let c = cached, let emptyText = emptyCaption.text {
                cached = try Tensor.where(drop.reshaped(b, 1, 1), emptyText.expanded([b, c.size(1), c.size(2)]), c)
            }
        }
        let context = try models.captionFeatures(ids: ids, mask: mask, cached: cached)
        var globalShape = batch.x.shape
        globalShape[0] = indices.count
        let noise = try local(Tensor.randn(globalShape, dtype: batch.x.dtype, device: device))
        let t: Tensor
        if config.scheduler.objective == .flow {
            // Logit-normal σ (SD3's default weighting): most samples at middle noise levels, where the layout of
            // the image — what the caption's position and size words decide — is formed.
            t = try local(Tensor.randn([indices.count], device: device)).sigmoid() * Double(config.scheduler.numTrainTimesteps)
        } else {
            t = try local(Tensor.randint(0, config.scheduler.numTrainTimesteps, [indices.count], device: device))
        }
        let xt = try scheduler.addNoise(batch.x, noise: noise, timesteps: t)
        let target = try scheduler.trainingTarget(sample: batch.x, noise: noise, timesteps: t)
        let run = { () throws -> Tensor in
            var pred = try self.models.transformer(xt, encoderHiddenStates: context, timestep: t, encoderAttentionMask: mask)
            if pred.size(1) != batch.x.size(1) { pred = try pred.slice(dim: 1, start: 0, end: batch.x.size(1)) }
            return try F.mseLoss(pred.to(.float32), target)
        }
        switch config.training.mixedPrecision {
        case .no: return try run()
        case .bf16: return try withAutocast(device: device, dtype: .bfloat16, run)
        case .fp16: return try withAutocast(device: device, dtype: .float16, run)
        }
    }


    /// A grid of the sample prompts, generated with the EMA weights when there are any.
    public func sampleGrid() throws -> RGBImage {
        let pipeline = try samplingPipeline()
        let images = try pipeline.generate(config.run.samplePrompts, scheduler: try DiffusionSetup.sampler(config),
                                           steps: config.run.sampleSteps, guidanceScale: config.run.cfgScale,
                                           seed: UInt64(config.run.seed))
        return imageGrid(try TextToImagePipeline.images(images), columns: 4, scale: max(1, 96 / config.data.imageSize),
                         labels: config.run.samplePrompts)
    }

    /// The models a grid samples with. Building modules draws initial weights, so the training run's random stream
    /// is saved and put back: a run that samples and one resumed from a checkpoint stay step for step the same.
    func samplingPipeline() throws -> TextToImagePipeline {
        let rng = try Generator.globalState()
        defer { try? Generator.setGlobalState(rng) }
        var target = models
        if let ema {
            // Sample with a copy that holds the averaged weights, leaving the trained ones untouched.
            let copy = DiffusionModels(transformer: try PixArtTransformer2DModel(models.transformer.config),
                                       textEncoder: models.textEncoder.map { CLIPTextModel($0.config) })
            try copy.to(device)
            try ema.copy(to: copy)
            target = copy
        }
        if frozen == nil { frozen = try DiffusionSetup.frozenParts(config, device: device) }
        return TextToImagePipeline(transformer: target.transformer, textEncoder: target.textEncoder ?? frozen?.textEncoder,
                                   tokenizer: tokenizer, maxLength: config.textEncoder.maxLength, vae: frozen?.vae,
                                   device: device)
    }

    // MARK: Checkpoints

    func lastGoodCheckpoint() -> String {
        Checkpoint.latest(in: checkpointsDirectory).map { "The last good checkpoint is \($0.path) (resume with --resume)." }
            ?? "No checkpoint was written yet."
    }

    /// Rank 0 writes the checkpoint while the others wait for it; every rank returns its path.
    func checkpoint() throws -> URL {
        let url = isMain ? try checkpointOrExplain() : nil
        try parallel?.barrier()
        return url ?? checkpointsDirectory.appendingPathComponent("step-\(state.step)")
    }

    /// A failed checkpoint write (disk full, quota) stops the run with what survived: the previous checkpoint.
    func checkpointOrExplain() throws -> URL {
        do { return try saveCheckpoint() } catch {
            let last = Checkpoint.latest(in: checkpointsDirectory)
            throw TorchError("the checkpoint at step \(state.step) could not be written: \(error). Training stopped; "
                + (last.map { "the previous checkpoint \($0.path) is intact (resume with --resume)." }
                   ?? "no earlier checkpoint exists."))
        }
    }

    /// Bytes of one checkpoint: weights, EMA weights and AdamW's two moments per trainable parameter (plus headers).
    public var checkpointBytes: Int64 {
        let tensorBytes = { (t: Tensor) in Int64(t.count * t.dtype.elementSize) }
        let weights = models.stateDict().reduce(Int64(0)) { $0 + tensorBytes($1.1) }
        let moments = optimizer.parameters.reduce(Int64(0)) { $0 + 2 * tensorBytes($1.1) }
        let headers = Int64(optimizer.parameters.count) * 200 + 64 * 1024
        return weights * (ema == nil ? 1 : 2) + moments + headers
    }

    /// Disk space the rest of the run adds to the checkpoints folder at its peak: up to `keep_last` checkpoints
    /// plus the one being written, less those already there.
    func checkpointSpaceNeeded() -> Int64 {
        let every = config.run.checkpointEvery
        let remaining = every > 0
            ? totalSteps / every - state.step / every + (totalSteps % every == 0 ? 0 : 1)
            : 1
        let existing = Checkpoint.list(checkpointsDirectory).count
        let peak = min(existing + remaining, max(1, config.run.keepLast) + 1)
        return Int64(max(min(remaining, 1), peak - existing)) * checkpointBytes
    }

    @discardableResult
    public func saveCheckpoint() throws -> URL {
        var s = state
        s.rngState = try Data(Generator.globalState().bytes()).base64EncodedString()
        if case .cuda(let index) = device {
            s.cudaRngState = try Data(Generator.cudaState(device: index).bytes()).base64EncodedString()
        }
        s.gradScaler = scaler?.state
        return try Checkpoint.save(to: checkpointsDirectory, step: state.step,
                                   model: Dictionary(models.stateDict(), uniquingKeysWith: { a, _ in a }),
                                   ema: ema?.stateDict(), optimizer: optimizer.stateDict(), state: s,
                                   keepLast: config.run.keepLast)
    }

    func restore(from url: URL) throws {
        let loaded = try Checkpoint.load(url)
        guard loaded.state.configHash == config.architectureHash else {
            throw ConfigError(file: url.path, key: "config_hash",
                              "the checkpoint was trained with another model, data or noise setup (hash \(loaded.state.configHash), "
                                + "this config \(config.architectureHash)); only run, optimizer and training settings may change on resume")
        }
        try ModelDirectory.load(loaded.model, into: models, source: url.appendingPathComponent("model.safetensors").path)
        try optimizer.load(stateDict: loaded.optimizer)
        // A run that turns EMA on at resume starts the average at the restored weights, not at the random init.
        if let ema { try ema.load(stateDict: loaded.ema ?? Dictionary(models.namedParameters(), uniquingKeysWith: { a, _ in a })) }
        guard let rng = Data(base64Encoded: loaded.state.rngState) else {
            throw FileError(path: url.path, "trainer_state.json: rng_state is not base64")
        }
        try Generator.setGlobalState(try Tensor([UInt8](rng)))
        if case .cuda(let index) = device, let saved = loaded.state.cudaRngState.flatMap({ Data(base64Encoded: $0) }) {
            try Generator.setCUDAState(try Tensor([UInt8](saved)), device: index)
        }
        if let saved = loaded.state.gradScaler { scaler?.state = saved }
        state = loaded.state
        order = []
        // Rebuild the epoch's permutation without advancing past the saved position.
        let position = state.position
        let g = try Generator(seed: UInt64(config.run.seed) &+ UInt64(state.epoch) &* 1_000_003)
        order = try Tensor.randperm(data.count, generator: g).toArray(Int64.self)
        state.position = position
    }
}

/// Training stopped by Ctrl-C or SIGTERM after writing a checkpoint.
public struct TrainingInterrupted: Error, CustomStringConvertible {
    public let step: Int
    public let checkpoint: URL
    public var description: String { "interrupted at step \(step); resume from \(checkpoint.path) with --resume" }
}
