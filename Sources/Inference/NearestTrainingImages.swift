import Datasets
import Foundation
import Recipe
import Torch

/// The memorisation check: for an image (a generated one, say), the training images of the run's cache nearest to it,
/// compared where the model learned them: the cache's pixels, or the VAE's latent means (float16, as cached).
public struct NearestTrainingImages: Sendable {
    public struct Match: Sendable {
        /// The image's place in the cache, its first caption and its L2 distance from the query.
        public let index: Int, caption: String, distance: Double
        /// The training sample as an image (latents decoded through the VAE).
        public let image: RGBImage
    }
    /// The query as the cache would hold it (resized and centre-cropped to the cache's size).
    public let query: RGBImage
    public let matches: [Match]
}

extension TrainedRun {
    /// The `k` nearest training samples of the run's cache (`data.cache`) to each image, nearest first.
    public func nearestTrainingImages(to images: [RGBImage], k: Int) throws -> [NearestTrainingImages] {
        let cache = try CachedDataset(directory: URL(fileURLWithPath: config.data.cache))
        let stored = cache.storedSamples()
        let latent = cache.manifest.kind == "latents"
        guard !latent || vae != nil else {
            throw SamplingError("the cache \(config.data.cache) holds latents but the run has no VAE to encode images with")
        }
        let flat = try stored.to(.float32).reshaped(stored.size(0), -1)  // [N, D]
        let captions = try cache.captions()
        let size = cache.manifest.imageSize
        return try withNoGrad {
            try images.map { image in
                let x = try ImageTransform.resizedAndCropped(image, to: size)  // [3, H, W] in [−1, 1]
                let sample: Tensor
                if latent, let vae {
                    // As dit prepare stores it: the posterior mean, rounded to float16.
                    sample = try vae.encode(try x.unsqueezed(0).to(device)).mean.to(.cpu, .float16).to(.float32)
                } else {
                    sample = try ImageTransform.pixelValues(x).unsqueezed(0)  // as dit prepare stores pixels
                }
                let distances = try (flat - sample.reshaped(1, -1)).pow(2).sum(dims: [1]).sqrt().toArray(Float.self)
                let order = distances.indices.sorted { distances[$0] < distances[$1] }.prefix(max(1, k))
                let matches = try order.map { i -> NearestTrainingImages.Match in
                    let picture: Tensor = latent
                        ? try pipeline.decode(try stored[i].unsqueezed(0).to(device, .float32))[0]
                        : try ImageTransform.unitRange(stored[i])
                    return .init(index: i, caption: captions[i].first ?? "", distance: Double(distances[i]),
                                 image: try RGBImage(tensor: picture))
                }
                let shown = try RGBImage(tensor: latent ? try pipeline.decode(try sample.to(device))[0] : x)
                return NearestTrainingImages(query: shown, matches: matches)
            }
        }
    }
}
