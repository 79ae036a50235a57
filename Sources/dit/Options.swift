import ArgumentParser
import Torch

// Options several commands share, declared once so their names, defaults and help stay the same everywhere.

/// Which trained weights: `--checkpoint PATH [--no-ema]` (generate, eval, export).
struct CheckpointOptions: ParsableArguments {
    @Option(help: "A checkpoint (runs/NAME/checkpoints/step-N) or a run directory (its latest checkpoint).")
    var checkpoint: String
    @Flag(help: "Use the raw weights instead of the EMA.") var noEma = false

    var weightsName: String { noEma ? "raw" : "EMA" }
}

/// Where the model runs: `--device` (generate, eval, forward).
struct DeviceOptions: ParsableArguments {
    @Option(help: "cpu, cuda or cuda:N.") var device = Device.cpu
}

/// How a sampler runs: `--steps`, `--cfg-scale` (generate, eval).
struct SamplingOptions: ParsableArguments {
    @Option(help: "Sampling steps.") var steps = 25
    @Option(help: "Classifier-free guidance scale (1 = none).") var cfgScale = 4.0

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard cfgScale.isFinite else { throw ValidationError("--cfg-scale must be a finite number") }
    }
}
