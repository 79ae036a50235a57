@testable import Course
@testable import Datasets
@testable import Recipe
@testable import Schedulers
@testable import Training
import Core
import Foundation
import TestSupport
import Testing
import Torch

@Suite("PNG and TensorBoard files", .serialized)
struct ImageAndLogTests {
    func gradient(_ w: Int, _ h: Int) -> RGBImage {
        var img = RGBImage(width: w, height: h)
        for y in 0..<h { for x in 0..<w { img[x, y] = (UInt8(x * 255 / max(1, w - 1)), UInt8(y * 255 / max(1, h - 1)), 77) } }
        return img
    }

    @Test func pngRoundTripAndPillowAgrees() throws {
        let tmp = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let img = gradient(13, 7)
        #expect(try PNG.decode(try PNG.encode(img)) == img)
        let ours = tmp.appendingPathComponent("ours.png")
        try PNG.write(img, to: ours)
        // Pillow reads ours; Pillow writes grey, palette and RGBA PNGs that we read as RGB.
        let report = try runPython("""
            import sys
            from PIL import Image
            im = Image.open(sys.argv[1]); print(im.size, im.mode, list(im.getpixel((12, 6))))
            base = Image.new("RGB", (5, 4), (10, 200, 30)); base.putpixel((1, 2), (255, 0, 128))
            base.convert("L").save(sys.argv[2] + "/grey.png")
            base.convert("P", palette=Image.ADAPTIVE, colors=8).save(sys.argv[2] + "/palette.png")
            rgba = base.convert("RGBA"); rgba.save(sys.argv[2] + "/rgba.png")
            Image.new("RGB", (2, 2)).save(sys.argv[2] + "/tiny.jpg")
            """, arguments: [ours.path, tmp.path])
        #expect(report.contains("(13, 7) RGB [255, 255, 77]"), "\(report)")
        let palette = try PNG.read(tmp.appendingPathComponent("palette.png"))
        #expect(palette.width == 5 && palette.height == 4)
        #expect(palette[1, 2] == (255, 0, 128) && palette[0, 0] == (10, 200, 30))
        #expect(try PNG.read(tmp.appendingPathComponent("rgba.png"))[1, 2] == (255, 0, 128))
        let grey = try PNG.read(tmp.appendingPathComponent("grey.png"))[0, 0]
        #expect(grey.0 == grey.1 && grey.1 == grey.2)
        #expect(throws: FileError.self) { try PNG.read(tmp.appendingPathComponent("tiny.jpg")) }
        #expect(throws: FileError.self) { try PNG.read(tmp.appendingPathComponent("missing.png")) }
        #expect(throws: FileError.self) { try PNG.decode(Array(try PNG.encode(img).prefix(40))) }
    }

    @Test func tensorConversion() throws {
        let img = gradient(4, 3)
        let t = try img.tensor()
        #expect(t.shape == [3, 3, 4])
        // [C, H, W] in [−1, 1]: pixel (x 3, y 0) of the gradient is (255, 0, 77).
        #expect(try t[0][0][3].item() == 1 && t[1][0][3].item() == -1)
        #expect(Swift.abs(try t[2][0][3].item() - (77 / 127.5 - 1)) < 1e-6)
        #expect(try RGBImage(tensor: t) == img)
        #expect(throws: TorchError.self) { try RGBImage(tensor: try Tensor.zeros([4, 3, 3])) }
    }

    @Test func crc32cKnownValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func tensorBoardReadsOurEventFile() throws {
        let tmp = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let writer = try TensorBoardWriter(directory: tmp)
        for step in 1...5 { try writer.scalar("train/loss", 1.0 / Double(step), step: step) }
        try writer.scalar("train/lr", 3e-4, step: 5)
        let img = gradient(8, 6)
        try writer.image("samples", png: try PNG.encode(img), width: 8, height: 6, step: 5)
        let out = try runPython("""
            import sys, io
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            from PIL import Image
            acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0}); acc.Reload()
            print(sorted(acc.Tags()["scalars"]), sorted(acc.Tags()["images"]))
            print([(e.step, round(e.value, 6)) for e in acc.Scalars("train/loss")])
            print([(e.step, round(e.value, 8)) for e in acc.Scalars("train/lr")])
            im = acc.Images("samples")[0]
            pic = Image.open(io.BytesIO(im.encoded_image_string))
            print(im.step, im.width, im.height, pic.size, list(pic.getpixel((7, 5))))
            """, arguments: [tmp.path])
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines[0] == "['train/loss', 'train/lr'] ['samples']", "\(out)")
        #expect(lines[1] == "[(1, 1.0), (2, 0.5), (3, 0.333333), (4, 0.25), (5, 0.2)]", "\(out)")
        #expect(lines[2] == "[(5, 0.0003)]", "\(out)")
        #expect(lines[3] == "5 8 6 (8, 6) [255, 255, 77]", "\(out)")
    }
}

@Suite("Noise strip")
struct NoiseStripTests {
    /// `dit noise`'s strip: t = 0 is the image itself (ᾱ₀ ≈ 1), and each later column keeps less of it (the
    /// correlation with the clean image falls), for DDPM's noising and for flow's straight line.
    @Test(arguments: ["epsilon", "flow"])
    func laterTimestepsKeepLessOfTheImage(objective: String) throws {
        var image = RGBImage(width: 32, height: 32)  // a gradient with a bright square on it
        for y in 0..<32 { for x in 0..<32 { image[x, y] = (8 * UInt8(x) / 2, 8 * UInt8(y) / 2, (10..<22).contains(x) && (10..<22).contains(y) ? 250 : 20) } }
        let scheduler: any NoiseScheduler = objective == "flow"
            ? try FlowMatchEulerDiscreteScheduler(FlowMatchEulerDiscreteSchedulerConfig())
            : try DDPMScheduler(DDPMFamilyConfig(className: DDPMScheduler.className))
        let (strip, noised) = try NoiseStrip.render(image, size: 32, scheduler: scheduler, timesteps: [0, 250, 500, 999])
        #expect(noised.shape == [4, 3, 32, 32] && strip.width > 4 * 32)
        let x0 = try ImageTransform.resizedAndCropped(image, to: 32).flattened()
        #expect(try maxAbsDiff(noised[0].flattened(), x0) < 0.06)  // DDPM: √(1−ᾱ₀) = 0.01 of noise remains
        let centred = try x0 - x0.mean()
        var previous = 2.0
        for i in 0..<4 {
            let c = try noised[i].flattened() - noised[i].flattened().mean()
            let corr = try ((c * centred).sum() / ((c * c).sum().sqrt() * (centred * centred).sum().sqrt())).item()
            #expect(corr < previous, "column \(i): correlation \(corr) after \(previous)")
            previous = corr
        }
        #expect(previous < 0.2, "at t = 999 the image is nearly gone")
    }
}

@Suite("Charts from logs (dit plot)")
struct ChartTests {
    /// What TensorBoardWriter writes, TensorBoardReader reads back (as float32, TensorBoard's scalar type), across
    /// files in name order; a record cut by a crash ends its file without losing the earlier ones.
    @Test func eventFilesRoundTrip() throws {
        let dir = try temporaryDirectory()
        let writer = try TensorBoardWriter(directory: dir)
        let values = [1.5, 0.75, 0.3125, 1e-4]
        for (i, v) in values.enumerated() { try writer.scalar("train/loss", v, step: (i + 1) * 10) }
        try writer.scalar("train/lr", 0.001, step: 10)
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path).first)
        let bytes = try Data(contentsOf: dir.appendingPathComponent(file))
        try (bytes + bytes.prefix(30)).write(to: dir.appendingPathComponent(file))  // a half-written last record
        let read = try TensorBoardReader.scalars(in: dir)
        #expect(read["train/loss"]?.map(\.step) == [10, 20, 30, 40])
        #expect(read["train/loss"]?.map(\.value) == values.map { Double(Float($0)) })
        #expect(read["train/lr"]?.count == 1)
        #expect(throws: FileError.self) { try TensorBoardReader.scalars(in: try temporaryDirectory()) }
    }

    /// Each series is drawn in its colour inside the axes; ticks are round numbers.
    @Test func linesAreDrawnInTheirColours() throws {
        let a = LineChart.Series(name: "a", points: (0..<50).map { (x: Double($0), y: Double($0 * $0)) })
        let b = LineChart.Series(name: "b", points: (0..<50).map { (x: Double($0), y: 100.0) })
        let chart = try LineChart.render([a, b], width: 320, height: 200, title: "t", xLabel: "x", yLabel: "y")
        #expect(chart.width == 320 && chart.height == 200)
        var counts = [0, 0]
        for y in 0..<chart.height {
            for x in 0..<chart.width {
                let p = chart[x, y]
                for (i, c) in LineChart.palette.prefix(2).enumerated() where p == c { counts[i] += 1 }
            }
        }
        #expect(counts[0] > 100 && counts[1] > 100, "\(counts)")
        #expect(LineChart.ticks(0, 1) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1] || LineChart.ticks(0, 1).count == 6)
        #expect(LineChart.ticks(0, 3500).contains(1000))
        #expect(throws: FigureError.self) { try LineChart.render([], title: "", xLabel: "", yLabel: "") }
    }

    @Test func ditPlotDrawsARunsLoss() throws {
        let dir = try trainerFixture.get()
        let trainer = try Trainer(config: try tinyConfig(dir, name: "plotted", steps: 6))
        trainer.quiet = true
        try trainer.train()
        let out = dir.appendingPathComponent("loss.png")
        let (status, output) = try runDit(["plot", "logs", trainer.runDirectory.path, "--output", out.path, "--log-y"])
        #expect(status == 0 && output.contains("train/loss (3 points)"), "\(output)")
        let png = try RGBImage(contentsOf: out)
        #expect(png.width == 640 && png.height == 400)
        let missing = try runDit(["plot", "logs", trainer.runDirectory.path, "--tag", "nope", "--output", out.path])
        #expect(missing.status != 0 && missing.output.contains("train/loss"), "names the tags there are: \(missing.output)")
        #expect(try runDit(["plot", "schedules", "--output", dir.appendingPathComponent("s.png").path]).status == 0)
    }
}
