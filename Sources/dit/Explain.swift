import ArgumentParser
import Core
import Datasets
import Foundation
import Inference
import Models
import Recipe
import Torch

/// `dit explain …`: pictures of what a trained model does, for learning (the course's figures come from here).
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a model does: its denoising trajectory, where each word looks, the nearest training images, the VAE.",
        subcommands: [Trajectory.self, AttentionMaps.self, Nearest.self, VAEReport.self])
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

/// The PNG and JPEG files of an `--images` folder, by name.
func imageNames(in folder: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder.path)
        .filter { ["png", "jpg", "jpeg"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
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
        let names = try imageNames(in: folder)
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
                labels.append(String(format: "#%d d=%.2f", m.index, m.distance))
            }
            let list = result.matches.map { String(format: "#%d (%.3f, \"%@\")", $0.index, $0.distance, $0.caption) }
            print("\(name): " + list.joined(separator: ", "))
        }
        try PNG.write(run.grid(cells, columns: k + 1, labels: labels), to: file)
        print("wrote the \(k) nearest training images of \(names.count) image(s) to \(output) (distances in the cache's "
            + "\(run.config.vae == nil ? "pixel values, 0-255" : "latent") space)")
    }
}

/// `dit explain vae --vae DIR (--images DIR | --cache DIR)`: what the VAE keeps of an image (reconstructions beside
/// the originals, with PSNR) and how its latents are distributed (per channel, and the scaling factor that data implies
/// beside the configured one).
struct VAEReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae",
        abstract: "The VAE: reconstructions with PSNR, the latents' mean and std per channel, the scaling factor they imply.")

    @Option(help: "The VAE: a diffusers AutoencoderKL directory (config.json + weights) or a cached repo id.")
    var vae: String
    @Option(help: "A folder of images (PNG or JPEG) to encode and decode.") var images: String?
    @Option(help: "A latent cache made by dit prepare (data.cache): its latents' statistics over every image.")
    var cache: String?
    @Option(help: "Images encoded (--images) or cached latents decoded for the figure (--cache).") var limit = 16
    @Option(help: "Side of the square the images of --images are resized and centre-cropped to, as dit prepare does.")
    var resolution = 256
    @Option(help: "Images per VAE batch.") var batchSize = 4
    @Option(help: "Output PNG: originals beside reconstructions (--images), or the cache's latents decoded.")
    var output = "vae.png"
    @OptionGroup var device: DeviceOptions

    func validate() throws {
        guard (images == nil) != (cache == nil) else { throw ValidationError("give one of --images DIR or --cache DIR") }
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
        guard resolution >= 8, resolution % 8 == 0 else { throw ValidationError("--resolution must be a multiple of 8") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
    }

    func run() throws {
        let file = try OutputLocation.file(output, option: "--output")
        try DevicePreflight.check(device.device)
        let model = try AutoencoderKL.load(from: try ModelLocation.resolve(vae, key: "--vae"), device: device.device)
        let scale = max(1, 128 / resolution)
        let stats: LatentStatistics
        if let images {
            let folder = URL(fileURLWithPath: images)
            let all = try imageNames(in: folder)
            // Unreadable files are skipped and named, as dit prepare skips them.
            var names: [String] = [], inputs: [Tensor] = []
            for name in all where names.count < limit {
                do {
                    let image = try RGBImage(contentsOf: folder.appendingPathComponent(name))
                    inputs.append(try ImageTransform.resizedAndCropped(image, to: resolution))
                    names.append(name)
                } catch {
                    print("skipped \(name): \(error)")
                }
            }
            guard !names.isEmpty else { throw ValidationError("--images \(images): no readable .png, .jpg or .jpeg files there") }
            let encoded = try model.reconstruct(inputs, batchSize: batchSize)
            stats = try LatentStatistics(means: encoded.means, logvars: encoded.logvars)
            print("image".padding(toLength: 28, withPad: " ", startingAt: 0) + " PSNR (dB)")
            for (name, r) in zip(names, encoded.reconstructions) {
                print(name.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: " %9.2f", r.psnr))
            }
            let psnrs = encoded.reconstructions.map(\.psnr)
            print("mean".padding(toLength: 28, withPad: " ", startingAt: 0)
                + String(format: " %9.2f", psnrs.reduce(0, +) / Double(psnrs.count)))
            let cells = encoded.reconstructions.flatMap { [$0.original, $0.reconstruction] }
            let labels = zip(names, encoded.reconstructions).flatMap { [$0.0, String(format: "PSNR %.1f dB", $0.1.psnr)] }
            try PNG.write(imageGrid(cells, columns: 2 * min(4, names.count), scale: scale, labels: labels), to: file)
        } else if let cache {
            let data = try CachedDataset(directory: URL(fileURLWithPath: cache))
            guard data.manifest.kind == "latents" else {
                throw ValidationError("--cache \(cache) holds pixels, not latents: it was prepared without a VAE")
            }
            guard data.samples.size(1) == model.config.latentChannels else {
                throw ValidationError("--cache \(cache) holds latents of \(data.samples.size(1)) channels; the VAE \(vae) "
                    + "has \(model.config.latentChannels): was the cache prepared with another VAE?")
            }
            stats = try LatentStatistics(means: data.samples, logvars: data.latentLogvar)
            let shown = min(limit, data.count)
            let latents = try data.samples.slice(dim: 0, start: 0, end: shown).to(device.device, .float32)
            let decoded = try withNoGrad { try model.decode(latents).to(.cpu, .float32) }
            let cells = try (0..<shown).map { try RGBImage(tensor: decoded[$0]) }
            let names = try data.captionRecords().prefix(shown).map(\.fileName)
            try PNG.write(imageGrid(cells, columns: min(8, shown), scale: max(1, 128 / data.manifest.imageSize),
                                    labels: Array(names)), to: file)
            print("decoded the cached latents of \(shown) of \(data.count) images (PSNR needs the originals: --images)")
        } else {
            return
        }
        report(stats, model.config)
        print("wrote \(output)")
    }

    /// The statistics table and what it implies for scaling_factor (and shift_factor).
    func report(_ s: LatentStatistics, _ config: AutoencoderKLConfig) {
        print("latents of \(s.count) image(s)" + (s.includesPosteriorVariance ? "" : " (posterior means only: no log-variances)"))
        print("channel        mean       std")
        for (c, (m, d)) in zip(s.channelMean, s.channelStd).enumerated() {
            print(String(format: "%-8d %9.4f %9.4f", c, m, d))
        }
        print("all     " + String(format: " %9.4f %9.4f", s.mean, s.std))
        let seen = s.seenByTheModel(scalingFactor: config.scalingFactor, shiftFactor: config.shiftFactor)
        print(String(format: "implied scaling_factor = 1/std = %.5f; configured %.5f (the model sees std %.3f, mean %.3f)",
                     s.impliedScalingFactor, config.scalingFactor, seen.std, seen.mean))
        if let shift = config.shiftFactor {
            print(String(format: "implied shift_factor = mean = %.5f; configured %.5f", s.mean, shift))
        }
    }
}
