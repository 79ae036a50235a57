import ArgumentParser
import Core
import Course
import Foundation

/// `dit shapes OUT`: writes the built-in captioned-shapes dataset as a Hugging Face imagefolder.
struct Shapes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the captioned-shapes dataset (PNG files + metadata.jsonl).")

    @Argument(help: "Output folder.") var output: String
    @Option(help: "Number of images.") var count = 4000
    @Option(help: "Image side in pixels.") var size = 32
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Flag(help: "Chinese captions (左上角的一个小红色圆形).") var chinese = false
    @Option(help: "A 'COLOR SHAPE' pair to keep out of the data (repeatable), e.g. --holdout \"red circle\".")
    var holdout: [String] = []

    func run() throws {
        try OutputLocation.folder(output, option: "OUTPUT")
        let written = try ShapesDatasetWriter.write(to: URL(fileURLWithPath: output), count: count, seed: seed, side: size,
                                                    chinese: chinese, holdout: holdout)
        print("wrote \(written.count) images to \(output)" + (holdout.isEmpty ? "" : " (held out: \(holdout.joined(separator: ", ")))"))
    }
}
