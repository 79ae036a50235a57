@testable import Datasets
import Foundation
import TestSupport
import Testing
import Torch

private let images = fixturesDirectory.appendingPathComponent("images")
private let jpegs = ["astronaut.jpg", "coffee_444.jpg", "chelsea_progressive.jpg", "camera_gray.jpg", "coffee_cmyk.jpg",
                     "rocket_exif6.jpg"]

/// What Pillow makes of `files` (exif_transpose, then RGB), optionally resized and cropped like the training data:
/// [H, W, 3] uint8 tensors by file name.
private func pillow(_ files: [URL], resizeTo size: Int? = nil) throws -> [String: Tensor] {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("pillow.safetensors")
    _ = try runPython("""
        import sys, numpy, torch
        from PIL import Image, ImageOps
        from safetensors.torch import save_file
        size, out = int(sys.argv[1]), {}
        for path in sys.argv[3:]:
            image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
            if size > 0:  # the docs' pipeline: torchvision's Resize(size) sizes with PIL's bicubic, then CenterCrop
                w, h = image.size
                nw, nh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
                image = image.resize((nw, nh), Image.BICUBIC)
                top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
                image = image.crop((left, top, left + size, top + size))
            out[path.split("/")[-1]] = torch.from_numpy(numpy.asarray(image).copy())
        save_file(out, sys.argv[2])
        """, arguments: [String(size ?? 0), out.path] + files.map(\.path))
    return try SafeTensors.load(out.path)
}

/// Mean and max absolute difference of 8-bit pixels, per channel.
private func pixelDifference(_ ours: Tensor, _ theirs: Tensor) throws -> (mean: Double, max: Double) {
    let d = try (ours.to(.float64) - theirs.to(.float64)).abs()
    return (try d.reshaped(-1, 3).mean(dim: 0).max().item(), try d.max().item())
}

@Suite("JPEG decoding and resizing")
struct ImageDecodingTests {
    /// Photographs (baseline, 4:4:4, progressive, grayscale, Adobe CMYK, EXIF-rotated) decode as Pillow decodes them.
    @Test func jpegMatchesPillow() throws {
        let reference = try pillow(jpegs.map { images.appendingPathComponent($0) })
        for name in jpegs {
            let ours = try RGBImage(contentsOf: images.appendingPathComponent(name))
            let theirs = try reference.tensor(name)
            let shape: [Int] = [ours.height, ours.width, 3]
            #expect(shape == theirs.shape, "\(name)")
            let (mean, max) = try pixelDifference(try Tensor(ours.pixels, shape: [ours.height, ours.width, 3]), theirs)
            #expect(mean <= 1 && max <= 8, "\(name): mean \(mean), max \(max)")
        }
    }

    /// Every EXIF orientation comes out upright, as Pillow's exif_transpose turns it.
    @Test func everyExifOrientation() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try runPython("""
            import sys
            from PIL import Image
            base = Image.open(sys.argv[1]).convert("RGB").crop((10, 20, 70, 60))  # 60 × 40, not square
            for o in range(1, 9):
                exif = Image.Exif(); exif[0x0112] = o
                base.save(f"{sys.argv[2]}/o{o}.jpg", quality=95, exif=exif)
            """, arguments: [images.appendingPathComponent("astronaut.jpg").path, dir.path])
        let files = (1...8).map { dir.appendingPathComponent("o\($0).jpg") }
        let reference = try pillow(files)
        for (o, file) in zip(1..., files) {
            let ours = try RGBImage(contentsOf: file)
            let theirs = try reference.tensor(file.lastPathComponent)
            let size: [Int] = [ours.height, ours.width], expected: [Int] = o >= 5 ? [60, 40] : [40, 60]
            #expect(size == expected, "orientation \(o)")
            let (mean, max) = try pixelDifference(try Tensor(ours.pixels, shape: [ours.height, ours.width, 3]), theirs)
            #expect(mean <= 1 && max <= 8, "orientation \(o): mean \(mean), max \(max)")
        }
    }

    /// Shortest side to the training size with PIL's bicubic filter, centre crop: down- and upsampling.
    @Test(arguments: [64, 100, 200])
    func resizeAndCropMatchPillow(size: Int) throws {
        let files = ["astronaut.jpg", "coffee_444.jpg", "rocket_exif6.jpg"].map { images.appendingPathComponent($0) }
        let reference = try pillow(files, resizeTo: size)
        for file in files {
            let ours = try ImageTransform.resizedAndCropped(RGBImage(contentsOf: file), to: size)
            let levels = try ((ours + 1) * 127.5).round().permuted(1, 2, 0)
            let (mean, max) = try pixelDifference(levels, try reference.tensor(file.lastPathComponent))
            #expect(mean <= 1, "\(file.lastPathComponent) at \(size): mean \(mean), max \(max)")
        }
    }

    /// Truncated, empty, foreign and oversized files are errors that name the file, never a crash or grey pixels.
    @Test func badImagesAreNamedErrors() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try Data(contentsOf: images.appendingPathComponent("astronaut.jpg"))
        var huge = [UInt8](good)
        // The SOF0 marker's height and width fields: claim 60,000 × 60,000 pixels.
        let sof = try #require((0..<(huge.count - 9)).first { huge[$0] == 0xFF && huge[$0 + 1] == 0xC0 })
        huge[sof + 5...sof + 8] = [0xEA, 0x60, 0xEA, 0x60]
        let cases: [(String, Data, String)] = [
            ("truncated.jpg", good.prefix(good.count / 2), "not a readable JPEG"),
            ("empty.jpg", Data(), "empty"),
            ("notes.jpg", Data("not an image at all".utf8), "not a PNG or JPEG"),
            ("broken.jpg", Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]) + Data(repeating: 7, count: 64), "not a readable JPEG"),
            ("huge.jpg", Data(huge), "limit"),
        ]
        for (name, data, expected) in cases {
            let file = dir.appendingPathComponent(name)
            try data.write(to: file)
            #expect {
                _ = try RGBImage(contentsOf: file)
            } throws: { error in
                "\(error)".contains(file.path) && "\(error)".contains(expected)
            }
        }
    }
}
