import Core
import Datasets
import Foundation
import Models
import Recipe
import Torch

/// Where each word of a prompt looked while an image was made (DAAM): for every token as the run's tokenizer splits
/// the prompt, the cross-attention it received from every image position, averaged over heads, layers and sampling
/// steps, as a map at the model's token-grid resolution that sums to 1.
public struct CrossAttentionExplanation: Sendable {
    public let prompt: String
    /// The prompt's real tokens (padding left out), special ones included.
    public let tokens: [String]
    /// The token grid: image positions in rows × columns (sample size / patch size each way).
    public let rows: Int, columns: Int
    /// One map per token, row-major, rows × columns values summing to 1.
    public let maps: [[Double]]
    /// The image generated while the maps were recorded.
    public let image: RGBImage

    /// The share of `token`'s map in each quadrant of the image: top left, top right, bottom left, bottom right.
    public func quadrants(of token: Int) -> [Double] {
        var q = [0.0, 0.0, 0.0, 0.0]
        for r in 0..<rows {
            for c in 0..<columns {
                q[(r < rows / 2 ? 0 : 2) + (c < columns / 2 ? 0 : 1)] += maps[token][r * columns + c]
            }
        }
        return q
    }

    /// `{"prompt", "tokens", "rows", "columns", "maps"}` with each map as rows of numbers.
    public var json: String {
        let grids = maps.map { map in
            "[" + (0..<rows).map { r in
                "[" + (0..<columns).map { String(format: "%.6g", map[r * columns + $0]) }.joined(separator: ", ") + "]"
            }.joined(separator: ", ") + "]"
        }
        return "{\"prompt\": \(JSONValue.quoted(prompt)), \"tokens\": [\(tokens.map(JSONValue.quoted).joined(separator: ", "))], "
            + "\"rows\": \(rows), \"columns\": \(columns), \"maps\": [\n  \(grids.joined(separator: ",\n  "))\n]}\n"
    }

    /// Each token's map over the image: the image dimmed, the map (upsampled, scaled to its own maximum) in red to
    /// yellow on top.
    public func overlays() -> [RGBImage] {
        maps.map { map in
            let peak = map.max() ?? 0
            var pixels = image.pixels
            for y in 0..<image.height {
                for x in 0..<image.width {
                    let v = peak > 0 ? map[(y * rows / image.height) * columns + x * columns / image.width] / peak : 0
                    let i = (y * image.width + x) * 3
                    let heat = (255 * min(1, 2 * v), 255 * max(0, 2 * v - 1), 0.0)
                    for (k, h) in [heat.0, heat.1, heat.2].enumerated() {
                        pixels[i + k] = UInt8(min(255, 0.35 * Double(pixels[i + k]) + 0.65 * h))
                    }
                }
            }
            return RGBImage(width: image.width, height: image.height, pixels: pixels)
        }
    }
}

extension TrainedRun {
    /// `dit explain attention`: one generation with every cross-attention probability recorded (see
    /// `observedGeneration`); a model without cross-attention (class-conditional DiT) is an error that says so.
    public func crossAttention(_ prompt: String, sampler: TrainConfig.Sampler? = nil, steps: Int, cfgScale: Double,
                               seed: UInt64) throws -> CrossAttentionExplanation {
        guard let explained = try observedGeneration(prompt, sampler: sampler, steps: steps, cfgScale: cfgScale,
                                                     seed: seed).attention else {
            throw SamplingError("this model has no cross-attention (a class-conditional DiT sees a label, not words): "
                + "there are no per-word maps to draw")
        }
        return explained
    }

    /// One generation, watched (what `dit explain trajectory`, `dit explain attention` and `dit lab` run): `onStep`
    /// sees each step (its sample and clean-sample estimate x̂₀ decoded only when asked for); the result is the image
    /// `generate` makes with the same settings and, with `recordAttention` on a model with cross-attention, each prompt
    /// token's map averaged over heads, layers and steps (DAAM), recorded beside SDPA without changing its output.
    public func observedGeneration(_ prompt: String, negativePrompt: String = "", sampler: TrainConfig.Sampler? = nil,
                                   steps: Int, cfgScale: Double, seed: UInt64, recordAttention: Bool = true,
                                   onStep: ((ObservedStep) throws -> Void)? = nil)
        throws -> (image: RGBImage, attention: CrossAttentionExplanation?) {
        let pipeline = self.pipeline, transformer = pipeline.transformer
        let recorded = CrossAttentionMaps()
        let recording = recordAttention && transformer.recordCrossAttention(into: recorded)
        defer { if recording { transformer.recordCrossAttention(into: nil) } }
        let scheduler = try Components.sampler(config, override: sampler)
        let observe: StepObserver? = onStep.map { report in
            { k, t, x, x0 in try report(ObservedStep(index: k, timestep: t, x: x, x0: x0, pipeline: pipeline)) }
        }
        let image = try TextToImagePipeline.images(
            try pipeline.generate([prompt], scheduler: scheduler, steps: steps, guidanceScale: cfgScale, seed: seed,
                                  negativePrompt: negativePrompt, observe: observe))[0]
        guard recording else { return (image, nil) }
        guard let average = try recorded.average else { throw SamplingError("no cross-attention was recorded") }
        // Rows 0..<n are the empty (or negative) caption's, n..<2n the prompt's (classifier-free guidance batches both).
        let mine = try average[average.size(0) - 1]  // [N, L]
        let (ids, mask) = try pipeline.tokenizer.encodeBatch([prompt], maxLength: pipeline.maxLength,
                                                             padId: pipeline.tokenizer.padId ?? 0)
        let positions = mask[0].indices.filter { mask[0][$0] == 1 }
        let side = transformer.config.sampleSize / transformer.config.patchSize
        guard mine.size(0) == side * side, mine.size(1) == ids[0].count else {
            throw SamplingError("cross-attention of shape \(mine.shape) does not match \(side)×\(side) positions and "
                + "\(ids[0].count) caption tokens")
        }
        let columns = try mine.transposed(0, 1).contiguous().toArray(Float.self)  // [L, N]
        let n = side * side
        let maps = positions.map { j -> [Double] in
            let raw = columns[(j * n)..<((j + 1) * n)].map(Double.init)
            let total = raw.reduce(0, +)
            return raw.map { total > 0 ? $0 / total : 1 / Double(n) }
        }
        let tokens = positions.map { pipeline.tokenizer.token(for: ids[0][$0]) ?? "#\(ids[0][$0])" }
        return (image, CrossAttentionExplanation(prompt: prompt, tokens: tokens, rows: side, columns: side, maps: maps, image: image))
    }
}

/// One sampling step as `observedGeneration` shows it. The images are decoded (through the VAE for latent runs) when
/// asked for, so a caller that shows only x̂₀ does not pay for decoding x_t as well.
public struct ObservedStep {
    public let index: Int, timestep: Double
    let x: Tensor, x0: Tensor?
    let pipeline: TextToImagePipeline

    /// The sample after this step, x_t.
    public func sample() throws -> RGBImage { try RGBImage(tensor: try pipeline.decode(x)[0]) }

    /// The clean image the model predicted at this step, x̂₀ (nil when the sampler gives no estimate).
    public func prediction() throws -> RGBImage? { try x0.map { try RGBImage(tensor: try pipeline.decode($0)[0]) } }
}
