import ArgumentParser
import Datasets
import Prepare
import Recipe
import Foundation
import Torch
import Training

/// `dit prepare IMAGEFOLDER --config CONFIG` or `dit prepare --coco-captions FILE --images DIR --config CONFIG`:
/// decodes, resizes and crops the images, encodes them with the config's VAE and the captions with its tokenizer and
/// frozen text encoder, once, into the cache the config trains from.
struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Turn an imagefolder or COCO captions into a training cache.")

    @Argument(help: "An imagefolder (images + metadata.jsonl or metadata.csv).") var imageFolder: String?
    @Option(help: "Training config: gives the cache path, image size, max length, flips, VAE and text encoder.")
    var config: String
    @Option(help: "Write the cache here instead of the config's data.cache.") var output: String?
    @Option(help: "Images (and captions) per VAE / text-encoder batch.") var batchSize = 16
    @Option(help: "Images per shard file; several processes (dit launch) split the work by shards.") var shardSize = 1024
    @Option(help: "cpu, cuda or cuda:N (default: the config's run.device).") var device: Device?
    @Option(help: "The VAE's precision: fp32, bf16 or fp16 (the SD VAE overflows in fp16).") var vaeDtype = "fp32"
    @Option(help: "The imagefolder's image column.") var imageColumn = "file_name"
    @Option(help: "The imagefolder's caption column (a string, or a list of strings in metadata.jsonl).")
    var captionColumn = "text"
    @Option(help: "COCO captions file (captions_train2017.json) instead of an imagefolder.") var cocoCaptions: String?
    @Option(help: "With --coco-captions: the folder of its images (train2017).") var images: String?
    @Option(help: "With --coco-captions: use this many images, picked at random with --seed.") var limit: Int?
    @Option(help: "With --coco-captions: the seed that picks the images.") var seed: UInt64 = 0

    func validate() throws {
        guard (imageFolder == nil) != (cocoCaptions == nil) else {
            throw ValidationError("give an imagefolder or --coco-captions FILE --images DIR (one of the two)")
        }
        if cocoCaptions != nil && images == nil { throw ValidationError("--coco-captions needs --images DIR") }
        let floats: [DType] = [.float32, .bfloat16, .float16]
        guard let dtype = DType(name: vaeDtype), floats.contains(dtype) else {
            throw ValidationError("--vae-dtype must be fp32, bf16 or fp16, got '\(vaeDtype)'")
        }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard shardSize >= 1 else { throw ValidationError("--shard-size must be at least 1") }
        guard limit.map({ $0 >= 1 }) ?? true else { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let c = try TrainConfig.load(URL(fileURLWithPath: config))
        let source: CachePreparer.Source = if let cocoCaptions, let images {
            .coco(annotations: URL(fileURLWithPath: cocoCaptions), images: URL(fileURLWithPath: images), limit: limit,
                  seed: seed)
        } else {
            .imageFolder(URL(fileURLWithPath: imageFolder!), imageColumn: imageColumn, captionColumn: captionColumn)
        }
        // Under `dit launch` / torchrun each worker encodes its share; rank 0 shows progress (of its share) and
        // writes the manifest.
        let env = try DistributedEnvironment.current()
        var display: ProgressDisplay?
        let manifest: CacheManifest
        do {
            manifest = try CachePreparer.prepare(
                source, config: c, output: output.map { URL(fileURLWithPath: $0) }, batchSize: batchSize, shardSize: shardSize,
                device: device, vaeDType: DType(name: vaeDtype)!, distributed: env) { done, total, _ in
                guard env.isMain else { return }
                // The first call reports what a resumed prepare had already done: the rate counts from there.
                if display == nil { display = ProgressDisplay(total: total, startStep: done, logEvery: max(1, total / 10), unit: "images") }
                display?.update(done: done, unit: "img")
            }
        } catch let error where env.isDistributed {
            throw DistributedError("rank \(env.rank) of \(env.worldSize): \(error)")
        }
        guard env.isMain else { return }
        if manifest.truncatedCaptions > 0 {
            print("\(manifest.truncatedCaptions) captions were longer than max_length \(manifest.maxLength) tokens and cut")
        }
        if !manifest.skipped.isEmpty {
            let reasons = manifest.skippedByReason.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.value) \($0.key)" }
            print("skipped \(manifest.skipped.count): " + reasons.joined(separator: ", ") + " (each in manifest.json)")
            for s in manifest.skipped.prefix(5) { print("  \(s)") }
        }
        // Last, so the final line names what was written.
        print("cached \(manifest.count) images with \(manifest.captionCount) captions (\(manifest.kind) "
            + "\(manifest.sampleShape)\(manifest.flip ? ", and their mirror images" : "")) in \(output ?? c.data.cache)")
    }
}
