import ArgumentParser
import Foundation
import Inference
import Recipe
import Torch

// Options several commands share, declared once so their names, defaults and help stay the same everywhere.

/// Which trained weights: `--checkpoint PATH [--no-ema]` (generate, eval, export).
struct CheckpointOptions: ParsableArguments {
    @Option(help: "A checkpoint (runs/NAME/checkpoints/step-N) or a run directory (its latest checkpoint).")
    var checkpoint: String
    @Flag(help: "Use the raw weights instead of the EMA.") var noEma = false

    var weightsName: String { noEma ? "raw" : "EMA" }

    /// The run behind `--checkpoint`, its weights on `device`'s choice (saying why when it was not asked for).
    func load(on device: RunDeviceOptions) throws -> TrainedRun {
        let (chosen, note) = device.choose(for: checkpoint)
        if let note { print(note) }
        return try TrainedRun(path: URL(fileURLWithPath: checkpoint), useEMA: !noEma, device: chosen)
    }
}

/// Where the model runs: `--device` (forward).
struct DeviceOptions: ParsableArguments {
    @Option(help: "cpu, cuda or cuda:N.") var device = Device.cpu
}

/// Where a trained run's model runs: `--device` (generate, eval, export); by default the device the run trained on
/// when it works here, else the CPU.
struct RunDeviceOptions: ParsableArguments {
    @Option(help: "cpu, cuda or cuda:N (default: the run's run.device when it works here, else cpu).")
    var device: Device?

    /// The device to load the run at `checkpoint` on, and a line that says why when it was not asked for.
    func choose(for checkpoint: String) -> (device: Device, note: String?) {
        if let device { return (device, nil) }
        let chosen = TrainedRun.defaultDevice(for: URL(fileURLWithPath: checkpoint))
        return (chosen.device, chosen.note)
    }
}

/// How a sampler runs: `--steps`, `--cfg-scale` (generate, eval).
struct SamplingOptions: ParsableArguments {
    @Option(help: "Sampling steps.") var steps = 25
    @Option(help: "Classifier-free guidance scale (1 = none); dit generate also takes a list (1,2,4,7): one grid row per scale.")
    var cfgScale = GuidanceScales([4.0])

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
    }

    /// The one scale of commands that take one (dit eval).
    func singleScale(command: String) throws -> Double {
        guard cfgScale.values.count == 1 else {
            throw ValidationError("\(command) takes one --cfg-scale; a list (\(cfgScale)) is for dit generate's comparison grid")
        }
        return cfgScale.values[0]
    }
}

/// `--cfg-scale 4` or `--cfg-scale 1,2,4,7`: finite scales, in the order given.
struct GuidanceScales: ExpressibleByArgument, CustomStringConvertible {
    let values: [Double]
    init(_ values: [Double]) { self.values = values }
    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map {
            Double($0.trimmingCharacters(in: .whitespaces))
        }
        guard !parts.isEmpty, parts.allSatisfy({ $0?.isFinite == true }) else { return nil }
        values = parts.map { $0! }
    }
    var description: String { values.map { $0 == $0.rounded() && abs($0) < 1e6 ? String(format: "%.1f", $0) : "\($0)" }.joined(separator: ",") }
    var defaultValueDescription: String { description }
}

/// One prompt sampled once: `--prompt`, `--steps`, `--cfg-scale` (one), `--seed`, `--sampler` (dit explain trajectory
/// and attention).
struct PromptSamplingOptions: ParsableArguments {
    @Option(help: "The prompt.") var prompt: String
    @OptionGroup var sampling: SamplingOptions
    @Option(help: "Random seed (the same seed and settings give dit generate's image).") var seed: UInt64 = 0
    @Option(help: "ddim, ddpm, dpmsolver++ (epsilon/v models) or euler (flow models); default: the config's sampler.")
    var sampler: TrainConfig.Sampler?
}
