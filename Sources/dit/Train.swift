import ArgumentParser
import Core
import Foundation
import Recipe
import Torch
import Training

/// `dit train --config CONFIG [--resume [PATH]]`. Under torchrun or `dit launch` (WORLD_SIZE > 1) each worker runs
/// this same command and trains its share of every batch; rank 0 prints and writes.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train a DiT from a prepared cache.")

    @Option(help: "Training config (YAML).") var config: String
    @Option(help: "Continue from a checkpoint: a step directory; `--resume` alone takes the run's latest.")
    var resume: String?
    @Flag(help: "Continue from the run's latest checkpoint (what a bare --resume means).") var resumeLatest = false
    @Option(help: "Fine-tune: start a new run from a checkpoint's weights (its EMA weights when it has them; a run directory means its latest checkpoint), with a fresh optimizer at step 0.")
    var initFrom: String?
    @Flag(help: "Start a fresh run where one with checkpoints is (it moves aside to NAME.before-TIME, nothing is deleted), or resume from a checkpoint that is not the latest (the later ones move aside).")
    var overwrite = false
    @Option(help: "Override run.name: train (or resume) the run in OUTPUT_DIR/NAME instead.") var runName: String?
    @Option(help: "Override training.max_steps (for quick trials).") var maxSteps: Int?
    @Option(help: "Override run.device: cpu, cuda or cuda:N (a dry run on the CPU before a GPU run, say).")
    var device: Device?
    @Flag(help: "Measure instead of training: parameter counts, peak memory and time per step over a few steps; nothing is written.")
    var dryRun = false
    @Option(help: "Optimizer steps the dry run measures.") var dryRunSteps = 3
    /// For the crash tests: each checkpoint waits this long half-written, so a test can kill the process there.
    @Option(help: .hidden) var checkpointPause: Double?

    func run() throws {
        let env = try DistributedEnvironment.current()
        do {
            try train(env)
        } catch let error where env.isDistributed && !(error is ExitCode) {
            throw DistributedError("rank \(env.rank) of \(env.worldSize): \(error)")
        }
    }

    /// The run's length when the config alone (max_steps) or the cache's manifest (num_epochs) tells it.
    static func knownTotalSteps(_ c: TrainConfig) -> Int? {
        if let steps = c.training.maxSteps { return steps }
        guard let manifest = try? CacheManifest.read(from: URL(fileURLWithPath: c.data.cache)) else { return nil }
        return RunPreflight.totalSteps(c, count: manifest.count)
    }

    func train(_ env: DistributedEnvironment) throws {
        var c = try TrainConfig.load(URL(fileURLWithPath: config))
        if let maxSteps { c.training.maxSteps = maxSteps; c.training.numEpochs = nil }
        if let runName {
            guard TrainConfig.Run.isValidName(runName) else {
                throw ValidationError("--run-name '\(runName)' cannot name a run directory (expected a non-empty name without '/')")
            }
            c.run.name = runName
        }
        var notes: [String] = []
        if let device {
            c.run.device = device
            if device == .cpu && c.training.mixedPrecision == .fp16 {
                guard dryRun else {
                    throw ValidationError("--device cpu: the config trains in fp16, which needs a CUDA device; use "
                        + "training.mixed_precision bf16 or no for a CPU run")
                }
                // Same tensor sizes, so the memory report holds; the CPU has no fp16 autocast worth measuring.
                c.training.mixedPrecision = .bf16
                notes.append("note: fp16 needs CUDA, so this CPU dry run measures bf16 (tensors of the same size)")
            }
        }
        var from: URL?
        if let path = resume {
            from = URL(fileURLWithPath: path)
        } else if resumeLatest {
            guard let latest = Checkpoint.latest(in: c.run.checkpointsDirectory) else {
                throw ValidationError("no checkpoint to resume in \(c.run.checkpointsDirectory.path)")
            }
            from = latest
        }
        var initial: URL?
        if let initFrom {
            initial = Checkpoint.resolve(URL(fileURLWithPath: initFrom))
            guard initial != nil else { throw FileError(path: initFrom, "--init-from: not a checkpoint, nor a run with one") }
        }
        let say = { (line: String) in if env.isMain { print(line) } }
        // A finished run is told so before anything is checked or loaded (its cache may be gone by now). Trainer.train()
        // guards the same for library callers.
        if let from, !dryRun, let step = Checkpoint.state(of: from)?.step, let total = Self.knownTotalSteps(c), step >= total {
            say("\(from.path) is already at step \(step) of \(total): nothing to train, nothing was written. To train "
                + "further, raise --max-steps (or training.max_steps / num_epochs in the config) and resume again.")
            return
        }
        let trainer = try Trainer(config: c, resume: from, initFrom: initial, overwrite: overwrite, dryRun: dryRun,
                                  distributed: env)
        if let checkpointPause { trainer.checkpointHook = { Thread.sleep(forTimeInterval: checkpointPause) } }
        notes.forEach(say)
        trainer.warnings.forEach { say("warning: \($0)") }
        if dryRun {
            say("dry run of \(c.run.name): batch \(c.training.batchSize) × accumulation \(c.training.gradientAccumulationSteps), "
                + "\(c.training.mixedPrecision.rawValue) mixed precision, \(c.data.imageSize) px; nothing is written")
            try trainer.dryRun(steps: dryRunSteps).lines().forEach(say)
            return
        }
        if c.model.learnSigma {
            // DiT's learned Σ needs the L_vlb term, which DiTKit does not train: say so instead of implying it.
            say("note: model.learn_sigma doubles the output channels (DiT's layout), but only the mean half is trained "
                + "(the simple MSE loss); the variance half keeps its initial values")
        }
        if let initial { say("starting from the weights of \(initial.path) (fine-tuning: step 0, a new optimizer)") }
        if let from { say("resuming from \(from.path) at step \(trainer.state.step)") }
        say("training \(c.run.name): \(trainer.models.transformer.parameterCount) DiT parameters"
            + (trainer.models.textEncoder.map { ", \($0.parameterCount) text-encoder parameters" } ?? "")
            + ", \(trainer.data.count) samples, \(trainer.totalSteps) steps on \(c.run.device)"
            + (env.isDistributed ? " × \(env.worldSize) processes (global batch \(c.training.batchSize))" : ""))
        let loss: Double
        do {
            loss = try trainer.train()
        } catch let stopped as TrainingInterrupted {
            say(stopped.description)
            throw ExitCode(130)  // as a shell reports a Ctrl-C
        }
        // The allocator's own high-water marks (what the caching allocator held from the device, and what tensors
        // used), which benchmarks/seed_run.py checks against a card's budget.
        let device = env.device(for: c.run.device)
        if let memory = try? Runtime.memory(on: device) {
            say(String(format: "peak memory %.1f MiB reserved, %.1f MiB allocated on %@ (allocator statistics)",
                       Double(memory.peakReserved) / 1_048_576, Double(memory.peakAllocated) / 1_048_576,
                       device.description))
        }
        // Last, so the final line names what was written.
        say(String(format: "done: final loss %.4f; run in %@", loss, trainer.runDirectory.path))
    }
}
