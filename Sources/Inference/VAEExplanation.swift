import Datasets
import Foundation
import Models
import Recipe
import Torch

/// How the data's latents are distributed, per channel and over all of them: where the VAE's `scaling_factor` comes
/// from. Latent diffusion scales latents to unit variance, scaling_factor = 1 / std(z) over the training data (0.18215
/// was measured so on the SD VAE's data); a model whose latents are far from unit variance trains at the wrong noise
/// level. z is the posterior's sample, mean + σ·ε: its statistics are computed exactly from the posterior's means and
/// log-variances (E[z] = mean, E[z²] = mean² + σ²), so they carry no sampling noise and are the same every time.
public struct LatentStatistics: Sendable, Equatable {
    /// Images the statistics are over.
    public let count: Int
    /// Per latent channel, over images and positions.
    public let channelMean: [Double], channelStd: [Double]
    /// Over every channel and position (each channel weighs the same: they have the same number of positions).
    public let mean: Double, std: Double
    /// Whether σ was known (false: the statistics are of the posterior means alone).
    public let includesPosteriorVariance: Bool

    /// The scaling_factor these latents imply, 1 / std(z).
    public var impliedScalingFactor: Double { 1 / std }

    /// `means` and `logvars`: [N, C, h, w] posterior moments (any float dtype); `logvars` nil when unknown.
    public init(means: Tensor, logvars: Tensor?) throws {
        guard means.rank == 4, means.size(0) > 0 else {
            throw SamplingError("latent statistics need [N, C, h, w] latents, got \(means.shape)")
        }
        if let logvars, logvars.shape != means.shape {
            throw SamplingError("latent log-variances \(logvars.shape) do not match the means \(means.shape)")
        }
        let m = try means.to(.cpu, .float64)
        var square = try m * m
        if let logvars { square = try square + logvars.to(.cpu, .float64).exp() }
        let first = try m.mean(dims: [0, 2, 3]), second = try square.mean(dims: [0, 2, 3])  // E[z], E[z²] per channel
        let variance = try (second - first * first).clamp(min: 0)
        count = means.size(0)
        channelMean = try first.toArray(Double.self)
        channelStd = try variance.sqrt().toArray(Double.self)
        mean = try first.mean().item()
        std = (max(0, try second.mean().item() - mean * mean)).squareRoot()
        includesPosteriorVariance = logvars != nil
    }

    /// Mean and standard deviation of the latents the diffusion model sees with `scalingFactor` and `shiftFactor`:
    /// (z − shift) · scale.
    public func seenByTheModel(scalingFactor: Double, shiftFactor: Double?) -> (mean: Double, std: Double) {
        ((mean - (shiftFactor ?? 0)) * scalingFactor, std * scalingFactor)
    }
}

/// An image beside its VAE reconstruction (the posterior mean decoded), with the reconstruction's PSNR.
public struct VAEReconstruction: Sendable {
    public let original: RGBImage, reconstruction: RGBImage
    /// 10·log10(255² / MSE) over the 8-bit pixel values; +∞ for an exact copy.
    public let psnr: Double

    public init(original: RGBImage, reconstruction: RGBImage) {
        (self.original, self.reconstruction) = (original, reconstruction)
        psnr = Self.psnr(original, reconstruction)
    }

    public static func psnr(_ a: RGBImage, _ b: RGBImage) -> Double {
        precondition(a.width == b.width && a.height == b.height, "PSNR of images of different sizes")
        let squared = zip(a.pixels, b.pixels).reduce(0.0) { sum, p in
            let d = Double(p.0) - Double(p.1)
            return sum + d * d
        }
        let mse = squared / Double(max(1, a.pixels.count))
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }
}

extension AutoencoderKL {
    /// Encodes `images` ([3, H, W] in [−1, 1], one size) in batches of `batchSize` on the VAE's device: their
    /// posterior means and log-variances, [N, C, h, w] on the CPU in float32, and each image's reconstruction (the
    /// mean decoded, as diffusers' `AutoencoderKL(sample_posterior=False)` does).
    public func reconstruct(_ images: [Tensor], batchSize: Int = 4)
        throws -> (means: Tensor, logvars: Tensor, reconstructions: [VAEReconstruction]) {
        guard !images.isEmpty else { throw SamplingError("no images to encode") }
        let device = parameters().first?.device ?? .cpu
        var means: [Tensor] = [], logvars: [Tensor] = [], pairs: [VAEReconstruction] = []
        try withNoGrad {
            for start in stride(from: 0, to: images.count, by: max(1, batchSize)) {
                let part = Array(images[start..<min(images.count, start + max(1, batchSize))])
                let x = try Tensor.stack(part, dim: 0).to(device, .float32)
                let posterior = try encode(x)
                let decoded = try decode(posterior.mean).to(.cpu, .float32)
                means.append(try posterior.mean.to(.cpu, .float32))
                logvars.append(try posterior.logvar.to(.cpu, .float32))
                for (i, original) in part.enumerated() {
                    pairs.append(VAEReconstruction(original: try RGBImage(tensor: original),
                                                   reconstruction: try RGBImage(tensor: decoded[i])))
                }
            }
        }
        return (try Tensor.cat(means, dim: 0), try Tensor.cat(logvars, dim: 0), pairs)
    }
}
