import ArgumentParser
import Core
import Datasets
import Foundation
import Inference
import Recipe
import Torch

/// `dit generate --checkpoint PATH "prompt" ...`: a PNG grid, EMA weights by default.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate images for prompts from a checkpoint.")

    @OptionGroup var weights: CheckpointOptions
    @Argument(help: "Prompts.") var prompts: [String] = []
    @Option(help: "More prompts: one per line, or a metadata.jsonl (its text column).") var promptFile: String?
    @OptionGroup var sampling: SamplingOptions
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Images per prompt.") var numImages = 1
    @Option(help: "ddim, ddpm, dpmsolver++ (epsilon/v models) or euler (flow models); default: the config's sampler.")
    var sampler: TrainConfig.Sampler?
    @Option(help: "Output PNG (the grid).") var output = "samples.png"
    @Option(help: "Also write each image as its own PNG (000.png, 001.png, ...) in this folder, with a metadata.jsonl of their prompts.")
    var outputDir: String?
    @Option(help: "Guide away from this prompt instead of the empty caption.") var negativePrompt = ""
    @Option(help: "Images generated at once (default: all).") var batchSize: Int?
    @Option(help: "DDIM's noise weight: 0 is deterministic, 1 is DDPM-like.") var eta = 0.0
    @OptionGroup var device: RunDeviceOptions
    @Flag(help: "Leave the prompts out of the grid.") var noLabels = false

    func run() throws {
        let prompts = try self.prompts + (promptFile.map(PromptFile.read) ?? [])
        guard !prompts.isEmpty else { throw ValidationError("give at least one prompt (or --prompt-file)") }
        guard numImages >= 1 else { throw ValidationError("--num-images must be at least 1") }
        guard batchSize.map({ $0 >= 1 }) ?? true else { throw ValidationError("--batch-size must be at least 1") }
        guard (0...1).contains(eta) else { throw ValidationError("--eta must be in [0, 1]") }
        // Where the images go is made ready before a minute of sampling, not after.
        let grid = try OutputLocation.file(output, option: "--output")
        let folder = try outputDir.map { try OutputLocation.folder($0, option: "--output-dir") }
        let run = try weights.load(on: device)
        let scales = sampling.cfgScale.values
        // Every scale starts from the same noise (the same seed), so a column of the grid is one seed under each scale.
        let byScale = try scales.map { scale in
            try run.generate(prompts, numImages: numImages, sampler: sampler, steps: sampling.steps, cfgScale: scale,
                             seed: seed, negativePrompt: negativePrompt, batchSize: batchSize, eta: eta)
        }
        var images: [RGBImage] = [], labels: [String] = [], rows: [String] = []
        for (p, prompt) in prompts.enumerated() {
            for (s, scale) in scales.enumerated() {
                images += byScale[s][(p * numImages)..<((p + 1) * numImages)]
                let label = scales.count > 1 ? "cfg \(GuidanceScales([scale])): \(prompt)" : prompt
                labels += Array(repeating: label, count: numImages)
                // An imagefolder's metadata: python/metrics.py reads each image's prompt from it for the CLIP score.
                for _ in 0..<numImages {
                    rows.append(#"{"file_name": \#(JSONValue.quoted(String(format: "%03d.png", rows.count))), "text": \#(JSONValue.quoted(prompt)), "guidance_scale": \#(scale)}"#)
                }
            }
        }
        let picture = scales.count > 1
            ? run.grid(images, columns: numImages, labels: noLabels ? nil : labels)
            : run.grid(images, prompts: prompts, numImages: numImages, labels: !noLabels)
        try PNG.write(picture, to: grid)
        if let folder {
            for (i, image) in images.enumerated() {
                try PNG.write(image, to: folder.appendingPathComponent(String(format: "%03d.png", i)))
            }
            try AtomicFile.write(rows.joined(separator: "\n") + "\n", to: folder.appendingPathComponent("metadata.jsonl"))
        }
        let singles = outputDir.map { " and \($0)/000.png … \(String(format: "%03d.png", images.count - 1))" } ?? ""
        let gridRows = scales.count > 1 ? " (\(prompts.count * scales.count) rows: each prompt at guidance \(sampling.cfgScale))" : ""
        print("wrote \(images.count) image(s) to \(output)\(singles)\(gridRows) (checkpoint \(run.checkpoint.path), "
            + "\(weights.weightsName) weights)")
    }
}
