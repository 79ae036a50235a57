import CJPEG
import Core
import Foundation

/// JPEG through Debian's libjpeg-turbo (Sources/CJPEG): baseline and progressive, any chroma subsampling,
/// grayscale, CMYK/YCCK; decoded upright, with the EXIF orientation applied as Pillow's `ImageOps.exif_transpose`.
public enum JPEG {
    /// No image with more pixels is decoded (a header can claim 65,535 × 65,535; the pixels would need 12 GB).
    public static let maxPixels = 100_000_000

    public static func decode(_ data: [UInt8], source: String = "<memory>") throws -> RGBImage {
        var image = cj_image()
        let status = data.withUnsafeBufferPointer { cj_decode($0.baseAddress, $0.count, maxPixels, &image) }
        defer { cj_free(&image) }
        guard status == 0, let pixels = image.pixels else {
            let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw FileError(path: source, "not a readable JPEG: \(message)")
        }
        let stored = RGBImage(width: Int(image.width), height: Int(image.height),
                              pixels: Array(UnsafeBufferPointer(start: pixels, count: Int(image.width * image.height) * 3)))
        return stored.oriented(exif: Int(image.orientation))
    }

    public static func read(_ url: URL) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw FileError(path: url.path, "cannot read the file")
        }
        return try decode([UInt8](data), source: url.path)
    }
}

extension RGBImage {
    /// The image as a viewer shows it for EXIF orientation `exif` (1: as stored; 2-8: mirrored and/or rotated).
    public func oriented(exif: Int) -> RGBImage {
        guard (2...8).contains(exif) else { return self }
        let swapsAxes = exif >= 5
        var out = RGBImage(width: swapsAxes ? height : width, height: swapsAxes ? width : height)
        for y in 0..<out.height {
            for x in 0..<out.width {
                // The stored pixel that lands at (x, y).
                let (sx, sy): (Int, Int) = switch exif {
                case 2: (width - 1 - x, y)  // mirror
                case 3: (width - 1 - x, height - 1 - y)  // rotate 180°
                case 4: (x, height - 1 - y)  // flip
                case 5: (y, x)  // transpose
                case 6: (y, height - 1 - x)  // rotate 90° clockwise
                case 7: (width - 1 - y, height - 1 - x)  // transverse
                default: (width - 1 - y, x)  // 8: rotate 90° counter-clockwise
                }
                out[x, y] = self[sx, sy]
            }
        }
        return out
    }

    /// Reads a PNG or JPEG file, told apart by its first bytes (not its name).
    public init(contentsOf url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw FileError(path: url.path, "cannot read the file")
        }
        let bytes = [UInt8](data)
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            self = try PNG.decode(bytes, source: url.path)
        } else if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = try JPEG.decode(bytes, source: url.path)
        } else {
            throw FileError(path: url.path, bytes.isEmpty ? "the file is empty" : "not a PNG or JPEG image")
        }
    }
}
