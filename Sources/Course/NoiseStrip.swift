import Datasets
import Foundation
import Schedulers
import Torch

/// The forward process made visible: one image noised at several timesteps, side by side (`dit noise`), each
/// column x_t = scheduler.addNoise(x_0, ε, t) with the same ε — what the DiT learns to undo.
public enum NoiseStrip {
    /// `image` resized and centre-cropped to `size`, then noised at each of `timesteps` by `scheduler`, as a
    /// labelled row (and the tensors, [T, 3, size, size] in [−1, 1], for inspection).
    public static func render(_ image: RGBImage, size: Int, scheduler: any NoiseScheduler, timesteps: [Int],
                              seed: UInt64 = 0) throws -> (strip: RGBImage, noised: Tensor) {
        guard !timesteps.isEmpty else { throw FigureError("give at least one timestep") }
        let x0 = try ImageTransform.resizedAndCropped(image, to: size).unsqueezed(0)
        let noise = try Tensor.randn(x0.shape, generator: try Generator(seed: seed))
        let columns = try timesteps.map { t in
            try scheduler.addNoise(x0, noise: noise, timesteps: try Tensor([Int64(t)])).clamp(min: -1, max: 1)
        }
        let noised = try Tensor.cat(columns, dim: 0)
        let images = try (0..<noised.size(0)).map { try RGBImage(tensor: try noised[$0]) }
        return (imageGrid(images, columns: images.count, scale: max(1, 96 / size), labels: timesteps.map { "t \($0)" }), noised)
    }
}
