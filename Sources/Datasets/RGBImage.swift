import Torch

/// An 8-bit RGB image, row-major, 3 bytes a pixel.
public struct RGBImage: Equatable, Sendable {
    public let width: Int, height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)×\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            pixels[3 * i] = fill.0
            pixels[3 * i + 1] = fill.1
            pixels[3 * i + 2] = fill.2
        }
    }

    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        get {
            let i = 3 * (y * width + x)
            return (pixels[i], pixels[i + 1], pixels[i + 2])
        }
        set {
            let i = 3 * (y * width + x)
            pixels[i] = newValue.0
            pixels[i + 1] = newValue.1
            pixels[i + 2] = newValue.2
        }
    }

    /// [3, H, W] float32 in [−1, 1], the range the diffusion model works in.
    public func tensor() throws -> Tensor {
        try ImageTransform.unitRange(try Tensor(pixels, shape: [height, width, 3]).permuted(2, 0, 1))
    }

    /// From a [3, H, W] tensor in [−1, 1] (values outside are clipped).
    public init(tensor: Tensor) throws {
        guard tensor.rank == 3, tensor.size(0) == 3 else {
            throw TorchError("an RGB image tensor must be [3, H, W], got \(tensor.shape)")
        }
        let bytes = try ImageTransform.pixelValues(try tensor.to(.cpu, .float32))
            .permuted(1, 2, 0).contiguous().to(.uint8).toArray(UInt8.self)
        self.init(width: tensor.size(2), height: tensor.size(1), pixels: bytes)
    }
}
