import Core
import Datasets
import Foundation
import Models
import Recipe
import Tokenizers
import Torch

/// `dit prepare`: images with captions → a cache.
public enum CachePreparer {
    public struct Options {
        public var imageSize: Int
        public var maxLength: Int
        /// nil: build a word-level tokenizer from the captions; else copy this tokenizer.json.
        public var tokenizer: URL?
        public var vae: AutoencoderKL?
        /// A frozen text encoder (MiniLM/BERT or a pretrained CLIP) whose features are cached.
        public var textEncoder: (any CaptionEncoder)?
        /// Images (and captions) through the VAE and the text encoder at once.
        public var batchSize = 16
        public var shardSize = 1024
        public var device: Device = .cpu
        /// The VAE's dtype: float32, or bfloat16/float16 to save memory and time on a GPU.
        public var vaeDType: DType = .float32
        /// Also cache each image mirrored (an augmentation; unsuited to captions that say left or right).
        public var flip = false
        /// Cache this many crops of each image at random places along its longer side instead of the centre crop.
        public var crops = 0
        /// Where the VAE and text encoder came from (their directories), so that resuming with other models of the
        /// same shape (two SD VAE fine-tunes, say) starts afresh instead of mixing them.
        public var modelIdentity = ""
        /// Versions of each image in the cache.
        var views: Int { max(1, crops) * (flip ? 2 : 1) }
        /// Several processes (`dit launch -- prepare`): this one encodes shards rank, rank + worldSize, …; rank 0
        /// writes the tokenizer, the empty caption and, once `barrier` says all shards are written, the manifest.
        public var rank = 0
        public var worldSize = 1
        /// Returns when every rank has called it (a c10d barrier); nil for a single process.
        public var barrier: (() throws -> Void)?
        /// Called with the number of shards on disk after each one is written; what it throws stops the prepare
        /// there, as an interruption would (tests stop a prepare at a known point this way).
        public var afterShard: ((Int) throws -> Void)?
        public init(imageSize: Int, maxLength: Int, tokenizer: URL? = nil) {
            self.imageSize = imageSize
            self.maxLength = maxLength
            self.tokenizer = tokenizer
        }
    }

    /// How far `prepare` is: images done of all, and the seconds since it started.
    public typealias Progress = (_ done: Int, _ total: Int, _ seconds: Double) -> Void

    /// An imagefolder (metadata.jsonl or metadata.csv) → a cache.
    @discardableResult
    public static func prepare(imageFolder: URL, output: URL, options: Options, progress: Progress = { _, _, _ in })
        throws -> CacheManifest {
        let folder = try ImageFolder(directory: imageFolder)
        return try prepare(folder.items, skipped: folder.skipped, source: imageFolder.path, output: output,
                           options: options, progress: progress)
    }

    /// `items` → a cache in `output`: images decoded, resized and cropped (ImageTransform), encoded by the VAE and
    /// captions by the text encoder in mini-batches; bad images are skipped and counted by reason.
    @discardableResult
    public static func prepare(_ items: [CaptionedImage], skipped given: [SkippedItem], source: String, output: URL,
                               options o: Options, progress: Progress = { _, _, _ in }) throws -> CacheManifest {
        let isMain = o.rank == 0
        let manifestURL = output.appendingPathComponent("manifest.json")
        let start = Date()
        var skipped = given
        let tokenizerURL = output.appendingPathComponent("tokenizer.json")
        let tokenizerText = try o.tokenizer.map { try String(contentsOf: $0, encoding: .utf8) }
            ?? CaptionVocabulary.tokenizerJSON(captions: items.flatMap(\.captions))
        if isMain {
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            // Until this prepare finishes, the folder is not a cache (an old manifest would describe the wrong shards).
            try? FileManager.default.removeItem(at: manifestURL)
            // Half-written files of a prepare that was killed (every write goes to a hidden temporary first).
            AtomicFile.removeLeftovers(in: output)
            try AtomicFile.write(tokenizerText, to: tokenizerURL)
        }
        try o.barrier?()
        var tokenizer = try Tokenizer(contentsOf: tokenizerURL)
        tokenizer.padding = nil
        tokenizer.truncation = nil
        let encoder = CaptionEncoding(tokenizer: tokenizer, maxLength: o.maxLength, textEncoder: o.textEncoder,
                                      device: o.device, batchSize: o.batchSize)
        // Float32 for the empty caption: training's caption dropout then uses exactly the features that
        // classifier-free guidance computes at sampling time.
        let empty = try encoder([""], dtype: .float32)
        if isMain {
            try SafeTensors.save(empty.tensors, metadata: ["source": "dit prepare"],
                                 to: output.appendingPathComponent("empty_caption.safetensors").path)
        }

        // Shards are written as they fill and listed in progress.json, so an interrupted prepare (Ctrl-C, a crash, a
        // full disk) continues after the last complete shard when run again with the same data and settings.
        let journalURL = journalFile(in: output, rank: o.rank, of: o.worldSize)
        let fingerprint = fnv1a64(([tokenizerText, "\(o.imageSize) \(o.maxLength) \(o.flip) \(o.crops) \(o.shardSize) \(o.vaeDType)",
                                    o.vae.map { "\($0.config)" } ?? "pixels", o.modelIdentity,
                                    o.textEncoder.map { "\(type(of: $0)) \($0.featureWidth)" } ?? "no encoder"]
            + items.map { ([$0.file.path] + $0.captions).joined(separator: "\u{1}") }).joined(separator: "\n"))
        var journal = PrepareJournal(fingerprint: fingerprint, shards: [])
        if let data = FileManager.default.contents(atPath: journalURL.path),
           let saved = try? JSONDecoder().decode(PrepareJournal.self, from: data), saved.fingerprint == fingerprint,
           saved.shards.allSatisfy({ $0.name.isEmpty || FileManager.default.fileExists(atPath: output.appendingPathComponent($0.name).path) }) {
            journal = saved
        } else {
            // Another prepare's journal: gone before any shard of this one is written, so it can never vouch for them.
            try? FileManager.default.removeItem(at: journalURL)
        }
        // Written now, not only after a shard: a rank with no shard to encode still reports (its empty list) to rank 0.
        try AtomicFile.writeJSON(journal, to: journalURL)
        // Shard k holds items k·shardSize ..< (k+1)·shardSize; this rank encodes every worldSize-th one.
        let shardSize = max(1, o.shardSize)
        let mine = stride(from: o.rank, to: (items.count + shardSize - 1) / shardSize, by: o.worldSize).map { $0 }
        let myItems = mine.map { min(($0 + 1) * shardSize, items.count) - $0 * shardSize }.reduce(0, +)
        var done = mine.filter { k in journal.shards.contains { $0.index == k } }
            .map { min(($0 + 1) * shardSize, items.count) - $0 * shardSize }.reduce(0, +)
        progress(done, myItems, 0)  // where a resumed prepare starts
        for k in mine {
            let next = k * shardSize, end = min(next + shardSize, items.count)
            if journal.shards.contains(where: { $0.index == k }) { continue }
            var shard = ShardBuffer(), record = ShardRecord(index: k, name: "", end: end)
            for batchStart in stride(from: next, to: end, by: max(1, o.batchSize)) {
                // views[v][i]: view v (crop, then its mirror image) of the batch's image i.
                var views: [[Tensor]] = Array(repeating: [], count: o.views), batchItems: [CaptionedImage] = []
                for (offset, item) in items[batchStart..<min(batchStart + o.batchSize, end)].enumerated() {
                    do {
                        let image = try RGBImage(contentsOf: item.file)
                        for c in 0..<max(1, o.crops) {
                            let crop = try ImageTransform.resizedAndCropped(
                                image, to: o.imageSize, cropPosition: o.crops == 0 ? 0.5 : cropPosition(batchStart + offset, c))
                            views[o.flip ? 2 * c : c].append(crop)
                            if o.flip { views[2 * c + 1].append(try crop.flipped([2])) }
                        }
                        batchItems.append(item)
                    } catch let error as FileError {
                        record.skipped.append(SkippedItem(item: item.file.lastPathComponent, reason: error.message))
                    }
                }
                if !batchItems.isEmpty {
                    for (v, images) in views.enumerated() {
                        let x = try Tensor.stack(images), suffix = v == 0 ? "" : ".\(v)"
                        if let vae = o.vae {
                            let posterior = try encodeChecked(x, vae: vae, o)
                            shard.add("latent_mean" + suffix, posterior.mean)
                            shard.add("latent_logvar" + suffix, posterior.logvar)
                            record.sampleShape = Array(posterior.mean.shape.dropFirst())
                        } else {
                            shard.add("pixels" + suffix, try ImageTransform.pixelValues(x).to(.uint8))
                            record.sampleShape = Array(x.shape.dropFirst())
                        }
                    }
                    let encoded = try encoder(batchItems.flatMap(\.captions))
                    record.truncated += encoded.truncated
                    for (k, v) in encoded.tensors { shard.add(k, v) }
                    shard.add("caption_counts", try Tensor(batchItems.map { Int64($0.captions.count) }))
                    record.records += batchItems.map { CaptionRecord(fileName: $0.file.lastPathComponent, captions: $0.captions) }
                }
                progress(done + min(batchStart + o.batchSize, end) - next, myItems, Date().timeIntervalSince(start))
            }
            if !shard.isEmpty {
                record.name = String(format: "shard-%05d.safetensors", k)
                try SafeTensors.save(try shard.tensors(), metadata: ["source": "dit prepare"],
                                     to: output.appendingPathComponent(record.name).path)
            }
            journal.shards.append(record)
            try AtomicFile.writeJSON(journal, to: journalURL)
            try o.afterShard?(journal.shards.count)
            done += end - next
        }
        // Every rank's shards are on disk before rank 0 lists them; the others wait for the manifest.
        try o.barrier?()
        guard isMain else {
            try o.barrier?()
            return try JSONDecoder().decode(CacheManifest.self, from: try Data(contentsOf: manifestURL))
        }
        var journals = [journal]
        for r in 1..<max(1, o.worldSize) {
            let url = journalFile(in: output, rank: r, of: o.worldSize)
            guard let other = try? JSONDecoder().decode(PrepareJournal.self, from: Data(contentsOf: url)),
                  other.fingerprint == fingerprint else {
                throw FileError(path: url.path, "rank \(r)'s record of its shards is missing or from another prepare")
            }
            journals.append(other)
        }
        journal.shards = journals.flatMap(\.shards).sorted { $0.index < $1.index }
        let records = journal.shards.flatMap(\.records)
        skipped += journal.shards.flatMap(\.skipped)
        let kept = records.count, captionCount = records.map(\.captions.count).reduce(0, +)
        let shards = journal.shards.map(\.name).filter { !$0.isEmpty }
        let sampleShape = journal.shards.last { !$0.sampleShape.isEmpty }?.sampleShape ?? []
        let truncated = journal.shards.map(\.truncated).reduce(0, +)
        guard kept > 0 else {
            throw FileError(path: source, "no usable images: \(skipped.prefix(5).map(\.description).joined(separator: "; "))")
        }
        // Sorted keys: the same cache is the same bytes whichever process (or how many) wrote it.
        let json = JSONEncoder()
        json.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let lines = try records.map { String(decoding: try json.encode($0), as: UTF8.self) }
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: output.appendingPathComponent("captions.jsonl"))
        var manifest = CacheManifest()
        manifest.kind = o.vae == nil ? "pixels" : "latents"
        (manifest.imageSize, manifest.sampleShape, manifest.maxLength) = (o.imageSize, sampleShape, o.maxLength)
        (manifest.count, manifest.captionCount) = (kept, captionCount)
        manifest.textEmbeddingDim = empty.tensors["text_embeddings"]?.size(-1)
        (manifest.flip, manifest.crops, manifest.views) = (o.flip, o.crops, o.views)
        (manifest.shards, manifest.skipped) = (shards, skipped.map(\.description))
        manifest.skippedByReason = Dictionary(skipped.map { (reasonKind($0.reason), 1) }, uniquingKeysWith: +)
        (manifest.truncatedCaptions, manifest.source) = (truncated, source)
        try AtomicFile.writeJSON(manifest, to: manifestURL)
        for r in 0..<max(1, o.worldSize) { try? FileManager.default.removeItem(at: journalFile(in: output, rank: r, of: o.worldSize)) }
        try o.barrier?()
        return manifest
    }

    /// The posterior of `x` through the VAE on the options' device and dtype, refusing non-finite latents (the SD
    /// VAE is known to overflow in float16).
    static func encodeChecked(_ x: Tensor, vae: AutoencoderKL, _ o: Options) throws -> (mean: Tensor, logvar: Tensor) {
        let posterior = try withNoGrad { try vae.encode(try x.to(o.device, o.vaeDType)) }
        guard try posterior.mean.isFinite().all().item() == 1 else {
            throw PrepareError("the VAE produced non-finite latents in \(o.vaeDType) (the SD VAE overflows in float16): "
                + "use --vae-dtype fp32 or bf16")
        }
        return (try posterior.mean.to(.cpu, .float16), try posterior.logvar.to(.cpu, .float16))
    }

    /// The journal of `rank` of `worldSize` processes in `output` (progress.json for one process).
    static func journalFile(in output: URL, rank: Int, of worldSize: Int) -> URL {
        output.appendingPathComponent(worldSize == 1 ? "progress.json" : "progress-\(rank)-of-\(worldSize).json")
    }

    /// Where crop `c` of item `index` sits along the longer side (0 ... 1): fixed by the item's place in the data, so
    /// a resumed or repeated prepare cuts the same crops.
    static func cropPosition(_ index: Int, _ c: Int) -> Double {
        var rng = SplitMix64(seed: UInt64(index) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(c))
        return Double(rng.next() >> 11) / Double(1 << 53)
    }

    /// A skip reason without its details ("not a readable JPEG: Premature end" → "not a readable JPEG"), for counting.
    static func reasonKind(_ reason: String) -> String {
        String(reason.prefix { $0 != ":" && $0 != "(" }).trimmingCharacters(in: .whitespaces)
    }
}
