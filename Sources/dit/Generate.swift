import ArgumentParser
import Datasets
import Foundation
import Pipeline
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
    @Option(help: "ddim, ddpm (epsilon/v models) or euler (flow models); default: the config's sampler.") var sampler: String?
    @Option(help: "Output PNG.") var output = "samples.png"
    @Flag(help: "Use the raw weights instead of the EMA.") var noEma = false
    @Option(help: "cpu, cuda or cuda:N.") var device = "cpu"
    @Flag(help: "Leave the prompts out of the grid.") var noLabels = false

    func run() throws {
        guard !prompts.isEmpty else { throw ValidationError("give at least one prompt") }
        guard let device = Device(name: device) else { throw ValidationError("unknown device '\(self.device)'") }
        guard numImages >= 1 else { throw ValidationError("--num-images must be at least 1") }
        let run = try TrainedRun(path: URL(fileURLWithPath: checkpoint), useEMA: !noEma, device: device)
        let kind = try sampler.map { name -> TrainConfig.Sampler in
            guard let s = TrainConfig.Sampler(rawValue: name) else { throw ValidationError("unknown sampler '\(name)' (ddim, ddpm, euler)") }
            return s
        }
        let scheduler = try DiffusionSetup.sampler(run.config, override: kind)
        let all = prompts.flatMap { Array(repeating: $0, count: numImages) }
        let images = try TextToImagePipeline.images(
            try run.pipeline.generate(all, scheduler: scheduler, steps: steps, guidanceScale: cfgScale, seed: seed))
        let grid = imageGrid(images, columns: numImages > 1 ? numImages : min(4, images.count),
                             scale: max(1, 128 / run.config.data.imageSize), labels: noLabels ? nil : all)
        try PNG.write(grid, to: URL(fileURLWithPath: output))
        print("wrote \(images.count) image(s) to \(output) (checkpoint \(run.checkpoint.lastPathComponent), \(noEma ? "raw" : "EMA") weights)")
    }
}
