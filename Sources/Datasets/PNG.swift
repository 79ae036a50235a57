import CPNG
import Core
import Foundation
import Torch

/// PNG through Debian's libpng (its simplified API; any PNG colour type and bit depth is converted to 8-bit RGB).
public enum PNG {
    public static func decode(_ data: [UInt8], source: String = "<memory>") throws -> RGBImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let ok = data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, data.count) }
        guard ok != 0 else { throw FileError(path: source, "not a readable PNG (\(message(image)))") }
        defer { png_image_free(&image) }
        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0, width * height <= 1 << 28 else {
            throw FileError(path: source, "unsupported size \(width)×\(height)")
        }
        // RGBA then the alpha dropped, as Pillow's convert("RGB") does (libpng would composite onto black).
        // 16-bit files: without PNG_IMAGE_FLAG_16BIT_sRGB libpng takes their samples for linear light and
        // gamma-encodes them on the way to 8 bits (a mid grey came out at 186, or at 56 with a gAMA chunk).
        image.format = UInt32(PNG_FORMAT_RGB | PNG_FORMAT_FLAG_ALPHA)
        image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        let done = rgba.withUnsafeMutableBytes {
            png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * 4), nil)
        }
        guard done != 0 else { throw FileError(path: source, "corrupt PNG data (\(message(image)))") }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for p in 0..<(width * height) {
            pixels[3 * p] = rgba[4 * p]
            pixels[3 * p + 1] = rgba[4 * p + 1]
            pixels[3 * p + 2] = rgba[4 * p + 2]
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    public static func read(_ url: URL) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw FileError(path: url.path, "cannot read the file")
        }
        return try decode([UInt8](data), source: url.path)
    }

    public static func encode(_ img: RGBImage) throws -> [UInt8] {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(img.width)
        image.height = UInt32(img.height)
        image.format = UInt32(PNG_FORMAT_RGB)
        var size: Int = 0
        // First call measures, second writes.
        let measured = img.pixels.withUnsafeBytes {
            png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, Int32(img.width * 3), nil)
        }
        guard measured != 0, size > 0 else { throw FileError(path: "<memory>", "PNG encoding failed (\(message(image)))") }
        var out = [UInt8](repeating: 0, count: size)
        let written = out.withUnsafeMutableBytes { dst in
            img.pixels.withUnsafeBytes {
                png_image_write_to_memory(&image, dst.baseAddress, &size, 0, $0.baseAddress, Int32(img.width * 3), nil)
            }
        }
        png_image_free(&image)
        guard written != 0 else { throw FileError(path: "<memory>", "PNG encoding failed (\(message(image)))") }
        return Array(out.prefix(size))
    }

    /// Written whole or not at all, so a reader never sees half a PNG.
    public static func write(_ img: RGBImage, to url: URL) throws { try AtomicFile.write(Data(try encode(img)), to: url) }

    private static func message(_ image: png_image) -> String {
        var m = image.message
        return withUnsafeBytes(of: &m) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
