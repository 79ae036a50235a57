import Core
import Datasets
import Foundation
import Recipe
import Torch

extension CachePreparer {
    /// Where `dit prepare` reads images and captions from.
    public enum Source {
        /// An imagefolder with metadata.jsonl or metadata.csv (column names as given).
        case imageFolder(URL, imageColumn: String = "file_name", captionColumn: String = "text")
        /// COCO's captions_*.json and its image folder; `limit` images picked with `seed`.
        case coco(annotations: URL, images: URL, limit: Int?, seed: UInt64)
    }

    /// `dit prepare`: the cache `config` trains from — its image size, caption length and flips, and its VAE and
    /// frozen text encoder (loaded on `device`, the VAE in `vaeDType`) — written to `output` (default: data.cache).
    /// Under a multi-process launch each rank encodes its share of the shards (on cuda:LOCAL_RANK with CUDA).
    @discardableResult
    public static func prepare(_ source: Source, config c: TrainConfig, output: URL? = nil, batchSize: Int = 16,
                               shardSize: Int = 1024, device: Device? = nil, vaeDType: DType = .float32,
                               distributed: DistributedEnvironment = .single,
                               progress: Progress = { _, _, _ in },
                               afterShard: ((Int) throws -> Void)? = nil) throws -> CacheManifest {
        let device = distributed.device(for: device ?? c.run.device)
        try DevicePreflight.check(device)
        var options = Options(imageSize: c.data.imageSize, maxLength: c.textEncoder.maxLength)
        let group = try distributed.processGroup(device: device, timeout: c.run.distributedTimeout)
        if let group {
            options.rank = group.rank
            options.worldSize = group.worldSize
            options.barrier = { try group.barrier() }
        }
        options.batchSize = batchSize
        options.shardSize = shardSize
        options.device = device
        options.vaeDType = vaeDType
        options.afterShard = afterShard
        options.flip = c.data.randomFlip
        options.crops = c.data.randomCrops
        let vaeDirectory = try c.vaeDirectory(), encoderDirectory = try c.textEncoderDirectory()
        options.modelIdentity = [vaeDirectory, encoderDirectory].map { $0?.standardizedFileURL.path ?? "-" }
            .joined(separator: " ")
        let out = output ?? URL(fileURLWithPath: c.data.cache)
        // The cache's folder is made ready before the VAE and encoder load and the first image is encoded.
        if distributed.isMain { try OutputLocation.folder(out.path, option: output == nil ? "data.cache" : "--output") }
        let frozen = try Components.frozenParts(c, device: device, vaeDType: vaeDType)
        if let vae = frozen.vae, let path = c.vae?.path { try c.checkLatentSize(vae: vae.config, file: path) }
        options.vae = frozen.vae
        options.textEncoder = frozen.textEncoder
        options.tokenizer = encoderDirectory?.appendingPathComponent("tokenizer.json")
        switch source {
        case let .imageFolder(dir, imageColumn, captionColumn):
            let folder = try ImageFolder(directory: dir, imageColumn: imageColumn, captionColumn: captionColumn)
            return try prepare(folder.items, skipped: folder.skipped, source: dir.path, output: out, options: options,
                               progress: progress)
        case let .coco(annotations, images, limit, seed):
            let coco = try COCOCaptions(annotations: annotations, images: images, limit: limit, seed: seed)
            return try prepare(coco.items, skipped: coco.skipped, source: annotations.path, output: out,
                               options: options, progress: progress)
        }
    }
}
