import ArgumentParser
import Datasets
import Foundation
import Training

/// `dit prepare IMAGEFOLDER --config CONFIG`: decodes, tokenizes (and, with a VAE or frozen text encoder, encodes)
/// the dataset once into the cache the config trains from.
struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Turn an imagefolder into a training cache.")

    @Argument(help: "An imagefolder (images + metadata.jsonl with file_name and text).") var imageFolder: String
    @Option(help: "Training config: gives the cache path, image size, max length, VAE and text encoder.") var config: String
    @Option(help: "Write the cache here instead of the config's data.cache.") var output: String?
    @Flag(help: "Centre-crop and resize images of another size instead of skipping them.") var resize = false

    func run() throws {
        let c = try TrainConfig.load(URL(fileURLWithPath: config))
        let manifest = try CachePreparer.prepare(imageFolder: URL(fileURLWithPath: imageFolder), config: c,
                                                 output: output.map { URL(fileURLWithPath: $0) }, resize: resize) { i, n in
            if i % 500 == 0 { print("  \(i)/\(n) images") }
        }
        print("cached \(manifest.count) samples (\(manifest.kind) \(manifest.sampleShape)) in \(output ?? c.data.cache); "
            + "skipped \(manifest.skipped.count)")
        for s in manifest.skipped.prefix(10) { print("  skipped \(s)") }
        if manifest.skipped.count > 10 { print("  ... and \(manifest.skipped.count - 10) more (see manifest.json)") }
    }
}
