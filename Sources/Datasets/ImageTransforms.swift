import Foundation
import Torch

/// How training images become square inputs of one size, as the docs state it: the shortest side is resized to
/// `size` with PIL's bicubic filter (`Image.BICUBIC`, antialiased when shrinking; torch's
/// `interpolate(mode="bicubic", antialias=True)` computes the same filter), rounded to 8-bit levels as a PIL image
/// is, then a `size`×`size` window is cut, from the centre by default (torchvision's `Resize(size)` +
/// `CenterCrop(size)` offsets). No image is skipped for its size.
public enum ImageTransform {
    /// [−1, 1] image values → the 0…255 pixel values a PNG or a pixel cache stores (rounded, clipped; still float).
    public static func pixelValues(_ x: Tensor) throws -> Tensor { try ((x + 1) * 127.5).round().clamp(min: 0, max: 255) }

    /// 0…255 pixel values (any dtype) → float32 in [−1, 1], the range models train on.
    public static func unitRange(_ pixels: Tensor) throws -> Tensor { try pixels.to(.float32) / 127.5 - 1 }

    /// The crop window's position along the longer side, 0 (left/top) ... 1 (right/bottom); 0.5 is the centre.
    public static func resizedAndCropped(_ image: RGBImage, to size: Int, cropPosition: Double = 0.5) throws -> Tensor {
        let (h, w) = (image.height, image.width)
        // torchvision's Resize(int): the short side becomes `size`, the long side int(size · long / short).
        let (newH, newW) = h <= w ? (size, Int(Double(size) * Double(w) / Double(h))) : (Int(Double(size) * Double(h) / Double(w)), size)
        var x = try Tensor(image.pixels, shape: [1, h, w, 3]).permuted(0, 3, 1, 2).to(.float32)
        if newH != h || newW != w {
            x = try F.interpolate(x, size: (newH, newW), mode: .bicubicAntialias).round().clamp(min: 0, max: 255)
        }
        // torchvision's CenterCrop offset: int(round((side − size) / 2)), rounding halves to even as Python does.
        func offset(_ side: Int) -> Int { Int((Double(side - size) * cropPosition).rounded(.toNearestOrEven)) }
        let top = offset(newH), left = offset(newW)
        x = try x.slice(dim: 2, start: top, end: top + size).slice(dim: 3, start: left, end: left + size)
        return try x.squeezed(0) / 127.5 - 1
    }
}
