@testable import Core
@testable import Course
@testable import Datasets
@testable import Recipe
import Foundation
import TestSupport
import Testing
import Torch

@Suite("Captioned shapes", .serialized)
struct ShapesTests {
    @Test func analyzerReadsEveryRenderedCombination() {
        for side in [32, 48] {
            let all = ShapeAttributes.all
            #expect(all.count == 6 * 4 * 9 * 2)
            let wrong = all.filter { ShapesAnalyzer.analyze($0.render(side: side)) != $0 }
            #expect(wrong.isEmpty, "side \(side): \(wrong.count) misread, e.g. \(wrong.prefix(3).map { "\($0.caption()) as \(ShapesAnalyzer.analyze($0.render(side: side)).map { $0.caption() } ?? "nothing")" })")
        }
    }

    @Test func analyzerToleratesNoise() {
        var rng = SplitMix64(seed: 1)
        var correct = 0
        let all = ShapeAttributes.all
        for a in all {
            var img = a.render(side: 32)
            for i in img.pixels.indices {
                let noise = Int.random(in: -40...40, using: &rng)
                img.pixels[i] = UInt8(clamping: Int(img.pixels[i]) + noise)
            }
            if ShapesAnalyzer.analyze(img) == a { correct += 1 }
        }
        #expect(Double(correct) / Double(all.count) >= 0.99, "\(correct) of \(all.count)")
        #expect(ShapesAnalyzer.analyze(RGBImage(width: 32, height: 32, fill: (0, 0, 0))) == nil)
    }

    @Test func captionsRoundTrip() {
        for a in ShapeAttributes.all {
            #expect(ShapeAttributes(caption: a.caption()) == a)
        }
        let a = ShapeAttributes(color: .red, shape: .circle, position: GridPosition(row: 0, column: 0), size: .small)
        #expect(a.caption() == "a small red circle at the top left")
        #expect(a.caption(chinese: true) == "左上角的一个小红色圆形")
        #expect(ShapeAttributes(caption: "a huge red circle at the top left") == nil)
    }
}

extension ShapesTests {
    @Test func gridTilesImages() throws {
        let a = ShapeAttributes.all
        let images = [a[0], a[100], a[200], a[431]].map { $0.render(side: 32) }
        let grid = imageGrid(images, columns: 2, scale: 3, padding: 2)
        #expect(grid.width == 2 * 96 + 3 * 2 && grid.height == 2 * 96 + 3 * 2)
        #expect(grid[0, 0] == (255, 255, 255))
        // Image 1 (top right) starts after one cell and two gaps; its pixel (x, y) is scaled by 3.
        #expect(grid[2 + 96 + 2 + 3 * 16, 2 + 3 * 16] == images[1][16, 16])
        // Labels: a strip under each cell with the text in the 5×7 font, wrapped to the cell width (96 px = 16 chars).
        let labelled = imageGrid(images, columns: 2, scale: 3, padding: 2, labels: ["ab", "a small red circle at the top left"])
        #expect(labelled.height == grid.height + 2 * (3 * 9 + 2), "three wrapped lines in the taller label")
        // "a" row 2 is 0x0E: pixels 1...3 of the glyph are ink, 0 and 4 are not.
        let top = 2 + 96 + 2 + 2  // first label line starts 2 px under the cell; glyph row 2
        #expect(labelled[2 + 1, top] == (0, 0, 0) && labelled[2 + 0, top] == (255, 255, 255))
        #expect(BitmapFont.wrap("a small red circle at the top left", columns: 16) == ["a small red", "circle at the", "top left"])
        // Special tokens and indices in explain figures are drawn, not shown as "?".
        #expect("<|>#+".allSatisfy { BitmapFont.glyph($0) != BitmapFont.glyph("?") })
        if let dir = ProcessInfo.processInfo.environment["DITKIT_KEEP_IMAGES"] {
            try PNG.write(imageGrid(ShapeAttributes.all.enumerated().filter { $0.offset % 9 == 0 }.map { $0.element.render() },
                                    columns: 8, scale: 3), to: URL(fileURLWithPath: dir).appendingPathComponent("shapes.png"))
        }
    }
}
