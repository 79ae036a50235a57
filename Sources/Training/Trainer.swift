import Core
import Datasets
import Foundation
import Models
import Recipe
import Schedulers
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
    let emptyCaption: CaptionTensors
    /// The VAE and frozen text encoder that sample grids go through (loaded on the first grid).
    var frozen: Components.FrozenParts?
    /// The VAE's scaling and shift factors for latent caches (1 and none in pixel space).
    let latentScale: Double, latentShift: Double?
    public internal(set) var state: TrainerState
    public let totalSteps: Int
    var order: [Int64] = []
    /// Loss and skipped updates summed on the device since the last report (made by the first step).
    var accumulators: StepAccumulators?
    /// Called after each optimizer step with (step, loss); tests use it to stop a run early.
    public var onStep: ((Int, Double) throws -> Void)?
    /// Called inside each checkpoint write, after the weights and before the rest: tests and `dit train
    /// --checkpoint-pause` use it to find a process in the middle of a checkpoint.
    public var checkpointHook: (() throws -> Void)?
    public var quiet = false
    /// What the preflight found worth saying before training (a warm-up longer than the run, ...).
    public let warnings: [String]
    /// What has to move aside before this run writes (an earlier run, later checkpoints): decided at init, decided
    /// again by the first `train()` just before it writes, then done (nil).
    var protection: RunProtection?
    let resumedFrom: URL?, overwrite: Bool
    /// Whether the run has reached its last step (a resumed finished run: `train()` then writes nothing).
    public var isFinished: Bool { state.step >= totalSteps }
    public let distributed: DistributedEnvironment
    /// The gradient averaging across ranks (nil when training alone).
    let parallel: DataParallel?
    /// Rank 0 writes the run's files and shows progress; the other ranks only compute.
    var isMain: Bool { distributed.isMain }

    public var checkpointsDirectory: URL { config.run.checkpointsDirectory }

    /// `resume` continues a run (same model, data and noise setup); `initFrom` starts a new run — step 0, fresh
    /// optimizer, any data — from a checkpoint's weights (its EMA weights when it has them): fine-tuning.
    /// `overwrite` lets a fresh run start where checkpoints are (the old run moves aside) and a resume go on from
    /// a checkpoint that is not the latest (the later ones move aside); see `RunProtection`.
    ///
    /// `dryRun`: a trainer for `dryRun(steps:)`, which writes nothing: no run protection, and without a cache it
    /// trains on random tensors of the cache's shapes, which the config and the model directories' config.json files
    /// decide (the memory report before anything is downloaded).
    public init(config: TrainConfig, resume: URL? = nil, initFrom: URL? = nil, overwrite: Bool = false,
                dryRun: Bool = false, distributed: DistributedEnvironment = .single) throws {
        self.config = config
        self.distributed = distributed
        (resumedFrom, self.overwrite) = (resume, overwrite)
        if let initFrom, resume != nil {
            throw ConfigError(file: initFrom.path, "--init-from starts a new run and --resume continues one: give one of them")
        }
        device = distributed.device(for: config.run.device)
        // A run already trained here is never replaced by accident: decided before anything loads.
        protection = dryRun ? nil
            : try RunProtection(runDirectory: config.run.directory, resume: resume, overwrite: overwrite)
        // The device, the cache, the VAE, the text encoder, the run's folder and the schedule, all at once, before
        // the data or a model is loaded.
        let preflight = RunPreflight(config: config, device: device, worldSize: distributed.worldSize, dryRun: dryRun)
        try preflight.requireNoProblems()
        warnings = preflight.warnings
        // Join the other ranks first: a wrong address or a missing peer fails now, not after loading the data.
        parallel = try distributed.processGroup(device: device, timeout: config.run.distributedTimeout)
            .map(DataParallel.init(group:))
        if config.run.threads > 0 { Runtime.threads = config.run.threads }
        runDirectory = config.run.directory
        data = try preflight.syntheticCache ?? CachedDataset(directory: URL(fileURLWithPath: config.data.cache))
        if let vae = config.vae, let directory = try config.vaeDirectory() {
            let c = try AutoencoderKLConfig(contentsOf: directory.appendingPathComponent("config.json"))
            try config.checkLatentSize(vae: c, file: vae.path)
            (latentScale, latentShift) = (c.scalingFactor, c.shiftFactor)
        } else {
            (latentScale, latentShift) = (1, nil)
        }

        manualSeed(UInt64(config.run.seed))
        models = try DiffusionModels(config: config, tokenizer: data.tokenizer, cachedTextDim: data.manifest.textEmbeddingDim)
        try models.to(device)
        if let initFrom {
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
        scheduler = try Components.trainingScheduler(config)
        totalSteps = RunPreflight.totalSteps(config, count: data.count)
        schedule = try LRSchedule(name: o.lrSchedule, warmupSteps: o.warmupSteps, totalSteps: totalSteps)
        emptyCaption = try data.emptyCaption.to(device)
        state = TrainerState(step: 0, epoch: 0, position: 0, rngState: "", configHash: config.architectureHash)
        state.cacheIdentity = try data.identity()

        if let resume {
            try restore(from: resume)
        }
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
        // A finished run resumed: nothing to train and nothing is written.
        if isFinished { return state.loss ?? .nan }
        if isMain {
            // Decided again now: another trainer may have written here since init.
            if protection != nil {
                protection = try RunProtection(runDirectory: runDirectory, resume: resumedFrom, overwrite: overwrite)
            }
            if case .run? = protection?.move, let moved = try protection?.setAside(), !quiet { print(moved) }
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            lock = try RunLock(directory: runDirectory)
            if case .checkpoints? = protection?.move, let moved = try protection?.setAside(), !quiet { print(moved) }
            protection = nil
            AtomicFile.removeLeftovers(in: runDirectory)
            // Paths resolved, so that the run is used from any directory (dit generate, eval, export).
            try AtomicFile.write(config.runRecordYAML, to: runDirectory.appendingPathComponent("config.yaml"))
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
                                       imagesPerStep: config.training.effectiveBatchSize)
        // The last loss read back (a report step's): what the bar shows ("…" until the first) and train() returns.
        var reported: Double?
        let showSamples = logs != nil && !config.run.samplePrompts.isEmpty
        while state.step < totalSteps {
            // Which steps read their values back is known before they run, the same on every rank: the others never
            // wait for the device. (A stop asked for in a single process makes the step a report step too.)
            let next = state.step + 1
            let logNow = next % config.run.logEvery == 0 || next == totalSteps
            let checkpointNow = config.run.checkpointEvery > 0 && next % config.run.checkpointEvery == 0
            let sampleNow = showSamples && config.run.sampleEvery > 0 && next % config.run.sampleEvery == 0
            let step = try optimizerStep(report: logNow || checkpointNow || onStep != nil)
            let read = step.report
            if let read { reported = read.loss }
            if !quiet { progress.update(step: state.step, loss: reported, lr: step.lr) }
            if let logs, let read, logNow {
                try logs.scalar("train/loss", read.loss, step: state.step)
                try logs.scalar("train/lr", step.lr, step: state.step)
                if let norm = read.gradNorm { try logs.scalar("train/grad_norm", norm, step: state.step) }
                try logs.scalar("train/it_per_sec", progress.rate(at: state.step), step: state.step)
                if let scale = read.lossScale { try logs.scalar("train/loss_scale", scale, step: state.step) }
            }
            // The checkpoint first: a sample grid that fails must not cost the step's weights.
            if checkpointNow || state.step == totalSteps {
                let url = try checkpoint()
                if !quiet { progress.message("checkpoint \(url.path)") }
            }
            if let logs, sampleNow || (showSamples && state.step == totalSteps) {
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
            try onStep?(state.step, reported ?? .nan)
            if step.stopRequested && state.step < totalSteps {
                let url = checkpointNow ? Checkpoint.latest(in: checkpointsDirectory)! : try checkpoint()
                if isMain { progress.message("interrupted at step \(state.step): checkpoint \(url.path) (continue with --resume)") }
                throw TrainingInterrupted(step: state.step, checkpoint: url)
            }
        }
        return reported ?? .nan
    }
}
