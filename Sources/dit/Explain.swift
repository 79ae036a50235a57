import ArgumentParser
import Core
import Datasets
import Foundation
import Inference
import Recipe
import Torch

/// `dit explain …`: pictures of what a trained model does, for learning (the course's figures come from here).
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a trained model does: its denoising trajectory, where each word of a prompt looks.",
        subcommands: [Trajectory.self, AttentionMaps.self, Nearest.self])
}

/// `dit explain trajectory --checkpoint RUN --prompt P`: the sample after each sampling step (top row) and the clean
/// image the model predicts at that step, x̂₀ (bottom row), decoded through the VAE for latent runs.
struct Trajectory: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Two rows: the sample x_t after each sampling step, and the clean image x̂₀ predicted at it.")

    @OptionGroup var weights: CheckpointOptions
    @OptionGroup var sample: PromptSamplingOptions
    @Option(help: "Output PNG.") var output = "trajectory.png"
    @OptionGroup var device: RunDeviceOptions

    func run() throws {
        let file = try OutputLocation.file(output, option: "--output")
        let (prompt, seed) = (sample.prompt, sample.seed)
        let scale = try sample.sampling.singleScale(command: "dit explain trajectory")
        let run = try weights.load(on: device)
        let path = try run.trajectory(prompt, sampler: sample.sampler, steps: sample.sampling.steps, cfgScale: scale, seed: seed)
        let t = path.timesteps.map { $0 == $0.rounded() ? String(Int($0)) : String(format: "%.1f", $0) }
        let labels = t.map { "x_t after t=\($0)" } + t.map { "x0 predicted at t=\($0)" }
        try PNG.write(run.grid(path.samples + path.predictions, columns: path.samples.count, labels: labels), to: file)
        print("wrote the trajectory of \"\(prompt)\" (\(path.samples.count) steps, guidance \(scale), seed \(seed)) to \(output)")
    }
}

/// `dit explain attention --checkpoint RUN --prompt P`: for each token of the prompt, the cross-attention it receives
/// from every image position, averaged over heads, layers and steps (DAAM), drawn over the generated image.
struct AttentionMaps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Where each word of a prompt looks: per-token cross-attention maps over the generated image.")

    @OptionGroup var weights: CheckpointOptions
    @OptionGroup var sample: PromptSamplingOptions
    @Option(help: "Output PNG: the image, then one map per token.") var output = "attention.png"
    @Option(help: "Also write the maps as JSON: tokens, and one rows × columns array per token summing to 1.")
    var json: String?
    @OptionGroup var device: RunDeviceOptions

    func run() throws {
        let file = try OutputLocation.file(output, option: "--output")
        let jsonFile = try json.map { try OutputLocation.file($0, option: "--json") }
        let prompt = sample.prompt
        let scale = try sample.sampling.singleScale(command: "dit explain attention")
        let run = try weights.load(on: device)
        let maps = try run.crossAttention(prompt, sampler: sample.sampler, steps: sample.sampling.steps, cfgScale: scale,
                                          seed: sample.seed)
        let images = [maps.image] + maps.overlays()
        try PNG.write(run.grid(images, columns: min(images.count, 6), labels: ["(image)"] + maps.tokens), to: file)
        if let jsonFile { try AtomicFile.write(maps.json, to: jsonFile) }
        for (token, quadrant) in zip(maps.tokens, maps.tokens.indices.map(maps.quadrants(of:))) {
            let shares = quadrant.map { String(format: "%.2f", $0) }.joined(separator: " ")
            print("\(token.padding(toLength: 14, withPad: " ", startingAt: 0)) top-left top-right bottom-left bottom-right: \(shares)")
        }
        print("wrote \(maps.tokens.count) token maps (\(maps.rows)×\(maps.columns) positions) of \"\(prompt)\" to \(output)"
            + (json.map { " and \($0)" } ?? ""))
    }
}

/// `dit explain nearest --checkpoint RUN --images DIR`: for each image in DIR, the k nearest training images of the
/// run's cache, with their distances: does the model copy its training data?
struct Nearest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The memorisation check: each image's nearest training images in the run's cache, with distances.")

    @OptionGroup var weights: CheckpointOptions
    @Option(help: "A folder of images (PNG or JPEG), e.g. dit generate --output-dir's.") var images: String
    @Option(help: "Nearest training images per image.") var k = 3
    @Option(help: "Output PNG: a row per image (the image, then its nearest).") var output = "nearest.png"
    @OptionGroup var device: RunDeviceOptions

    func run() throws {
        guard k >= 1 else { throw ValidationError("--k must be at least 1") }
        let file = try OutputLocation.file(output, option: "--output")
        let folder = URL(fileURLWithPath: images)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { ["png", "jpg", "jpeg"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        guard !names.isEmpty else { throw ValidationError("--images \(images): no .png, .jpg or .jpeg files there") }
        let run = try weights.load(on: device)
        let pictures = try names.map { try RGBImage(contentsOf: folder.appendingPathComponent($0)) }
        let found = try run.nearestTrainingImages(to: pictures, k: k)
        var cells: [RGBImage] = [], labels: [String] = []
        for (name, result) in zip(names, found) {
            cells.append(result.query)
            labels.append(name)
            for m in result.matches {
                cells.append(m.image)
                labels.append(String(format: "i=%d d=%.2f", m.index, m.distance))  // the grid font has no "#"
            }
            let list = result.matches.map { String(format: "#%d (%.3f, \"%@\")", $0.index, $0.distance, $0.caption) }
            print("\(name): " + list.joined(separator: ", "))
        }
        try PNG.write(run.grid(cells, columns: k + 1, labels: labels), to: file)
        print("wrote the \(k) nearest training images of \(names.count) image(s) to \(output) (distances in the cache's "
            + "\(run.config.vae == nil ? "pixel values, 0-255" : "latent") space)")
    }
}
