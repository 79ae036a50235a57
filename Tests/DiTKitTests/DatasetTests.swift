@testable import Course
@testable import Prepare
@testable import Recipe
@testable import Core
@testable import Datasets
@testable import Tokenizers
import Foundation
import TestSupport
import Testing
import Torch

@Suite("Imagefolder and cache", .serialized)
struct DatasetTests {
    @Test func badItemsAreSkippedAndCountedWithReasons() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = dir.appendingPathComponent("data")
        try ShapesDatasetWriter.write(to: folder, count: 6, seed: 1)
        // Damage it: a caption-less line, an unreadable PNG, a 20-pixel image (resized, not skipped), a missing file, a
        // non-JSON line.
        try Data("not a png".utf8).write(to: folder.appendingPathComponent("000001.png"))
        try PNG.write(RGBImage(width: 20, height: 20), to: folder.appendingPathComponent("000002.png"))
        var lines = try String(contentsOf: folder.appendingPathComponent("metadata.jsonl"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        lines[3] = #"{"file_name": "000003.png"}"#
        lines.append(#"{"file_name": "gone.png", "text": "a small red circle at the top left"}"#)
        lines.append("this is not json")
        try (lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("metadata.jsonl"), atomically: true, encoding: .utf8)

        let manifest = try CachePreparer.prepare(imageFolder: folder, output: dir.appendingPathComponent("cache"),
                                                 options: CachePreparer.Options(imageSize: 32, maxLength: 12))
        #expect(manifest.count == 4, "\(manifest.skipped)")
        #expect(manifest.skipped.count == 4)
        let all = manifest.skipped.joined(separator: "\n")
        #expect(all.contains("000003.png: no caption"))
        #expect(all.contains("gone.png: image file not found"))
        #expect(all.contains("line 8: not a JSON object"))
        #expect(all.contains("000001.png") && all.contains("not a PNG or JPEG image"))
        #expect(manifest.skippedByReason == ["no caption in 'text'": 1, "image file not found": 1, "not a JSON object": 1,
                                             "not a PNG or JPEG image": 1])
        let cache = try CachedDataset(directory: dir.appendingPathComponent("cache"))
        #expect(cache.count == 4 && cache.samples.dtype == .uint8 && cache.inputIds.shape == [4, 12])
        // The 20-pixel image, blank white, came out 32 pixels wide and still white.
        let white = try cache.samples[1]
        let darkest = try white.to(.float32).min().item()
        #expect(white.shape == [3, 32, 32] && darkest == 255)
    }

    /// A prepare stopped between shards continues after the last complete one, and ends with the same cache as an
    /// uninterrupted run.
    @Test func interruptedPrepareResumes() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = dir.appendingPathComponent("data")
        try ShapesDatasetWriter.write(to: folder, count: 10, seed: 4)
        var options = CachePreparer.Options(imageSize: 32, maxLength: 12)
        options.shardSize = 3
        let whole = try CachePreparer.prepare(imageFolder: folder, output: dir.appendingPathComponent("whole"), options: options)

        let cut = dir.appendingPathComponent("cut")
        struct Stopped: Error {}
        var stopping = options
        stopping.afterShard = { shards in if shards == 2 { throw Stopped() } }
        #expect(throws: Stopped.self) { try CachePreparer.prepare(imageFolder: folder, output: cut, options: stopping) }
        #expect(FileManager.default.fileExists(atPath: cut.appendingPathComponent("progress.json").path))
        #expect(!FileManager.default.fileExists(atPath: cut.appendingPathComponent("manifest.json").path))
        var reports: [Int] = []
        let resumed = try CachePreparer.prepare(imageFolder: folder, output: cut, options: options) { done, _, _ in
            reports.append(done)
        }
        // It starts at 6 (the 2 finished shards, not encoded again) and the next batch brings it to 9.
        #expect(Array(reports.prefix(2)) == [6, 9], "\(reports)")
        #expect(resumed == whole && resumed.shards.count == 4)
        #expect(!FileManager.default.fileExists(atPath: cut.appendingPathComponent("progress.json").path))
        let a = try CachedDataset(directory: dir.appendingPathComponent("whole")), b = try CachedDataset(directory: cut)
        #expect(try maxAbsDiff(a.samples, b.samples) == 0 && maxAbsDiff(a.inputIds, b.inputIds) == 0)
        #expect(try a.captions() == b.captions())
    }

    /// Captions longer than max_length are cut and counted; a 16-bit PNG is read at 8 bits.
    @Test func longCaptionsAndSixteenBitImages() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = dir.appendingPathComponent("data")
        try ShapesDatasetWriter.write(to: folder, count: 2, seed: 5)
        _ = try runPython("""
            import sys, numpy
            from PIL import Image
            from PIL.PngImagePlugin import PngInfo
            levels = numpy.array([[0, 32768, 65535] * 8] * 24, dtype=numpy.uint16)
            Image.fromarray(levels).save(sys.argv[1] + "/deep.png")  # 16-bit grayscale
            tagged = PngInfo()
            tagged.add(b"sRGB", b"\\x00")  # what image editors write: must not change the levels
            Image.fromarray(levels).save(sys.argv[1] + "/deep_srgb.png", pnginfo=tagged)
            rgba = Image.new("RGBA", (2, 1), (255, 0, 128, 0))
            rgba.putpixel((1, 0), (10, 200, 30, 128))
            rgba.save(sys.argv[1] + "/clear.png")
            """, arguments: [folder.path])
        let deep = try RGBImage(contentsOf: folder.appendingPathComponent("deep.png"))
        #expect(deep.width == 24 && deep.height == 24 && deep[0, 0] == (0, 0, 0) && deep[2, 5] == (255, 255, 255))
        #expect(Swift.abs(Int(deep[1, 0].0) - 128) <= 1)
        let tagged = try RGBImage(contentsOf: folder.appendingPathComponent("deep_srgb.png"))
        #expect(Swift.abs(Int(tagged[1, 0].0) - 128) <= 1 && tagged[2, 0] == (255, 255, 255))
        // Transparency is dropped, not composited onto black (Pillow's convert("RGB")).
        let clear = try RGBImage(contentsOf: folder.appendingPathComponent("clear.png"))
        #expect(clear[0, 0] == (255, 0, 128) && clear[1, 0] == (10, 200, 30))
        let long = Array(repeating: "a small red circle at the top left", count: 6).joined(separator: " and ")
        try FileHandle(forWritingTo: folder.appendingPathComponent("metadata.jsonl")).seekToEndAndWrite(
            #"{"file_name": "deep.png", "text": "\#(long)"}"# + "\n")
        let manifest = try CachePreparer.prepare(imageFolder: folder, output: dir.appendingPathComponent("cache"),
                                                 options: CachePreparer.Options(imageSize: 32, maxLength: 12))
        #expect(manifest.count == 3 && manifest.truncatedCaptions == 1)
    }

    /// metadata.csv with a byte-order mark (Excel's "CSV UTF-8"), quoted commas and newlines; metadata.jsonl lines
    /// end at "\n" only (with or without "\r" before it), so a caption may hold U+2028.
    @Test func metadataFilesAsToolsWriteThem() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try ShapesDatasetWriter.write(to: dir, count: 2, seed: 6)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("metadata.jsonl"))
        try ("\u{FEFF}file_name,text\r\n000000.png,\"a red circle, small\"\r\n000001.png,\"two\nlines\"\r\n")
            .write(to: dir.appendingPathComponent("metadata.csv"), atomically: true, encoding: .utf8)
        let csv = try ImageFolder(directory: dir)
        #expect(csv.items.map(\.captions) == [["a red circle, small"], ["two\nlines"]] && csv.skipped.isEmpty)
        try #"{"file_name": "000000.png", "text": "left\#u{2028}right"}"#.appending("\n\n")
            .write(to: dir.appendingPathComponent("metadata.jsonl"), atomically: true, encoding: .utf8)
        let jsonl = try ImageFolder(directory: dir)
        #expect(jsonl.items.map(\.captions) == [["left\u{2028}right"]] && jsonl.skipped.isEmpty)
        // Windows line ends (an editor on the Windows side of WSL2): "\r\n" is one Swift Character, yet each row is
        // its own line.
        try (#"{"file_name": "000000.png", "text": "one"}"# + "\r\n" + #"{"file_name": "000001.png", "text": "two"}"# + "\r\n")
            .write(to: dir.appendingPathComponent("metadata.jsonl"), atomically: true, encoding: .utf8)
        let windows = try ImageFolder(directory: dir)
        #expect(windows.items.map(\.captions) == [["one"], ["two"]] && windows.skipped.isEmpty, "\(windows.skipped)")
    }

    @Test func missingMetadataIsAClearError() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            _ = try ImageFolder(directory: dir)
            Issue.record("an imagefolder without metadata.jsonl must be rejected")
        } catch {
            #expect("\(error)".contains("metadata.jsonl") && "\(error)".contains("file_name"))
        }
        #expect(throws: FileError.self) { try CachedDataset(directory: dir) }
        #expect(throws: FileError.self) { try ShapesDatasetWriter.write(to: dir, count: 3, holdout: ["red blob"]) }
    }

    @Test func holdoutKeepsCombinationsOut() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let written = try ShapesDatasetWriter.write(to: dir, count: 400, seed: 2, holdout: ["red circle", "blue square"])
        #expect(!written.contains { ($0.color, $0.shape) == (.red, .circle) || ($0.color, $0.shape) == (.blue, .square) })
        #expect(Set(written.map(\.color)).count == 6 && Set(written.map(\.shape)).count == 4)
        // The analyzer reads the written files back (PNG round trip included) with at least 99% accuracy.
        let folder = try ImageFolder(directory: dir)
        var right = 0
        for item in folder.items.prefix(200) {
            if ShapesAnalyzer.analyze(try PNG.read(item.file)) == ShapeAttributes(caption: item.captions[0]) { right += 1 }
        }
        #expect(right >= 198, "\(right) of 200")
    }

    @Test func captionVocabularyLoadsInHuggingFaceTokenizers() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let captions = ["a small red circle at the top left", "左上角的一个小红色圆形", "A LARGE blue square in the center"]
        let file = dir.appendingPathComponent("tokenizer.json")
        try CaptionVocabulary.tokenizerJSON(captions: captions).write(to: file, atomically: true, encoding: .utf8)
        let ours = try Tokenizer(contentsOf: file)
        let ids = try captions.map { try ours.encode($0).ids }
        let python = try runPython("""
            import sys, json
            from tokenizers import Tokenizer
            t = Tokenizer.from_file(sys.argv[1])
            print(json.dumps([t.encode(s).ids for s in json.loads(sys.argv[2])]))
            """, arguments: [file.path, String(decoding: try JSONSerialization.data(withJSONObject: captions), as: UTF8.self)])
        let reference = try JSONSerialization.jsonObject(with: Data(python.utf8)) as? [[Int]]
        #expect(reference == ids)
        #expect(ids[1].count == 13, "each of the 11 Chinese characters is a word, plus the two special tokens: \(ids[1])")
        #expect(!ids.joined().contains(1), "no unknown words")
    }
}

extension FileHandle {
    fileprivate func seekToEndAndWrite(_ text: String) throws {
        try seekToEnd()
        try write(contentsOf: Data(text.utf8))
        try close()
    }
}
