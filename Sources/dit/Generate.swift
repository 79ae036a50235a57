import ArgumentParser
import Datasets
import Foundation
import Runs
import Torch
import Training

/// `dit generate --checkpoint PATH "prompt" ...`: a PNG grid, EMA weights by default.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate images for prompts from a checkpoint.")

    @Option(help: "A checkpoint (runs/NAME/checkpoints/step-N) or a run directory (its latest checkpoint).")
    var checkpoint: String
    @Argument(help: "Prompts.") var prompts: [String]
    @Option(help: "Sampling steps.") var steps = 25
    @Option(help: "Classifier-free guidance scale (1 = none).") var cfgScale = 4.0
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Images per prompt.") var numImages = 1
    @Option(help: "ddim, ddpm (epsilon/v models) or euler (flow models); default: the config's sampler.")
    var sampler: TrainConfig.Sampler?
    @Option(help: "Output PNG.") var output = "samples.png"
    @Flag(help: "Use the raw weights instead of the EMA.") var noEma = false
    @Option(help: "cpu, cuda or cuda:N.") var device = Device.cpu
    @Flag(help: "Leave the prompts out of the grid.") var noLabels = false

    func run() throws {
        guard !prompts.isEmpty else { throw ValidationError("give at least one prompt") }
        guard numImages >= 1 else { throw ValidationError("--num-images must be at least 1") }
        let run = try TrainedRun(path: URL(fileURLWithPath: checkpoint), useEMA: !noEma, device: device)
        let (grid, count) = try run.generateGrid(prompts, numImages: numImages, sampler: sampler, steps: steps,
                                                 cfgScale: cfgScale, seed: seed, labels: !noLabels)
        try PNG.write(grid, to: URL(fileURLWithPath: output))
        print("wrote \(count) image(s) to \(output) (checkpoint \(run.checkpoint.lastPathComponent), \(noEma ? "raw" : "EMA") weights)")
    }
}
