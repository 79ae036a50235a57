import Foundation
import Models
import Support
import Tokenizers
import Torch

/// What `dit prepare` writes and `dit train` reads: the dataset turned into tensors once, so training never decodes
/// an image or runs the VAE or a frozen text encoder per step (fast-DiT's lesson).
///
/// cache/manifest.json, tokenizer.json, captions.jsonl, empty_caption.safetensors and shard-NNNNN.safetensors
/// holding, per image: `pixels` (uint8 [3, H, W]) or `latent_mean`/`latent_logvar` (float16, VAE space, unscaled) —
/// with random crops or flips one such set per view (`pixels.1`, `latent_mean.1`, ...; one view is drawn per image
/// and step) — and `caption_counts` (int64); per caption:
/// `input_ids`/`attention_mask` (int64 [L]) and, with a frozen text encoder, `text_embeddings` (float16 [L, D]).
/// empty_caption.safetensors holds the same for the empty caption (features in float32): what caption dropout
/// trains with and what classifier-free guidance samples against.
public struct CacheManifest: Codable, Equatable, Sendable {
    public var version = 2
    /// "pixels" or "latents".
    public var kind: String
    public var imageSize: Int
    public var sampleShape: [Int]
    /// Images, and captions over all images.
    public var count: Int
    public var captionCount: Int
    public var maxLength: Int
    public var textEmbeddingDim: Int?
    /// Augmentations, cached: each image's `crops` random crops (0: the centre crop alone), each also mirrored with
    /// `flip`; `views` = max(1, crops) × (flip ? 2 : 1) versions, one drawn per image and step.
    public var flip: Bool
    public var crops: Int
    public var views: Int
    public var shards: [String]
    public var skipped: [String]
    public var skippedByReason: [String: Int]
    /// Captions longer than max_length tokens, cut to fit.
    public var truncatedCaptions: Int
    public var source: String

    enum CodingKeys: String, CodingKey {
        case version, kind, count, flip, crops, views, shards, skipped, source
        case imageSize = "image_size", sampleShape = "sample_shape", captionCount = "caption_count"
        case maxLength = "max_length", textEmbeddingDim = "text_embedding_dim", skippedByReason = "skipped_by_reason"
        case truncatedCaptions = "truncated_captions"
    }
}

/// One caption per line of captions.jsonl.
struct CaptionRecord: Codable {
    let fileName: String
    let captions: [String]
    enum CodingKeys: String, CodingKey { case fileName = "file_name", captions }
}

/// All cached tensors in memory, stacked along the first dimension.
public struct CachedDataset {
    public let manifest: CacheManifest
    public let directory: URL
    /// uint8 pixels or float16 latent means of view 0.
    public let samples: Tensor
    public let latentLogvar: Tensor?
    /// Every view (crops and flips), view 0 first.
    let views: [(sample: Tensor, logvar: Tensor?)]
    /// Per caption; `captionStart[i]..<captionStart[i + 1]` are image i's.
    public let inputIds: Tensor, attentionMask: Tensor
    public let textEmbeddings: Tensor?
    let captionStart: Tensor, captionCount: Tensor
    /// The empty caption's ids, mask and (with a frozen encoder) features, [1, L] and [1, L, D].
    public let emptyCaption: (ids: Tensor, mask: Tensor, text: Tensor?)
    public var count: Int { manifest.count }

    public init(directory: URL) throws {
        self.directory = directory
        let manifestURL = directory.appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: manifestURL.path) else {
            throw FileError(path: manifestURL.path, "no cache here: run `dit prepare` first")
        }
        do {
            manifest = try JSONDecoder().decode(CacheManifest.self, from: data)
        } catch {
            throw FileError(path: manifestURL.path, "not a DiTKit cache manifest (written by an older version? run "
                + "`dit prepare` again): \(error)")
        }
        var parts: [String: [Tensor]] = [:]
        for shard in manifest.shards {
            for (k, v) in try SafeTensors.load(directory.appendingPathComponent(shard).path) { parts[k, default: []].append(v) }
        }
        func stacked(_ key: String) throws -> Tensor? { try parts[key].map { try Tensor.cat($0, dim: 0) } }
        guard let samples = try stacked(manifest.kind == "latents" ? "latent_mean" : "pixels"),
              let ids = try stacked("input_ids"), let mask = try stacked("attention_mask"),
              let counts = try stacked("caption_counts") else {
            throw FileError(path: directory.path, "cache shards lack samples, token ids or caption counts")
        }
        guard samples.size(0) == manifest.count, counts.size(0) == manifest.count, ids.size(0) == manifest.captionCount,
              try counts.sum().item() == Double(manifest.captionCount) else {
            throw FileError(path: directory.path, "cache holds \(samples.size(0)) samples and \(ids.size(0)) captions, "
                + "manifest says \(manifest.count) and \(manifest.captionCount)")
        }
        self.samples = samples
        latentLogvar = try stacked("latent_logvar")
        var views = [(samples, latentLogvar)]
        for v in 1..<max(1, manifest.views) {
            let key = manifest.kind == "latents" ? "latent_mean" : "pixels"
            guard let view = try stacked("\(key).\(v)") else {
                throw FileError(path: directory.path, "cache shards lack view \(v) of \(manifest.views)")
            }
            views.append((view, try stacked("latent_logvar.\(v)")))
        }
        self.views = views
        inputIds = ids
        attentionMask = mask
        textEmbeddings = try stacked("text_embeddings")
        captionCount = counts
        captionStart = try counts.cumsum(dim: 0) - counts
        let empty = try SafeTensors.load(directory.appendingPathComponent("empty_caption.safetensors").path)
        guard let emptyIds = empty["input_ids"], let emptyMask = empty["attention_mask"] else {
            throw FileError(path: directory.path, "empty_caption.safetensors lacks input_ids or attention_mask")
        }
        emptyCaption = (emptyIds, emptyMask, try empty["text_embeddings"]?.to(.float32))
    }

    public var tokenizerURL: URL { directory.appendingPathComponent("tokenizer.json") }

    /// The captions of every image, in cache order.
    public func captions() throws -> [[String]] {
        let text = try String(contentsOf: directory.appendingPathComponent("captions.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(CaptionRecord.self, from: Data($0.utf8)).captions }
    }

    /// Model inputs for the images at `indices`: images in [−1, 1] (pixel caches) or scaled latents drawn from the
    /// cached posterior (latent caches), each with one of its captions and one of its views (crops, flips) drawn at
    /// random. Every draw uses `generator` (default: the global one, which checkpoints save).
    public func batch(_ indices: Tensor, device: Device, scalingFactor: Double = 1, shiftFactor: Double? = nil,
                      generator: Generator? = nil) throws -> (x: Tensor, ids: Tensor, mask: Tensor, text: Tensor?) {
        let b = indices.size(0)
        // One caption per image needs no draw (and leaves the random stream as it was).
        let pick = manifest.captionCount == manifest.count ? indices : try captionStart.indexSelect(dim: 0, index: indices)
            + (try Tensor.rand([b], dtype: .float64, generator: generator)
                * captionCount.indexSelect(dim: 0, index: indices).to(.float64)).floor().to(.int64)
        // The view of each image: one draw when there are several.
        let view = views.count > 1
            ? try (Tensor.rand([b], dtype: .float64, generator: generator) * Double(views.count)).floor().to(.int64)
                .reshaped(b, 1, 1, 1) : nil
        func picked(_ tensors: [Tensor]) throws -> Tensor {
            var out = try tensors[0].indexSelect(dim: 0, index: indices).to(.float32)
            for (v, t) in tensors.enumerated().dropFirst() {
                out = try Tensor.where(view!.eq(Double(v)), t.indexSelect(dim: 0, index: indices).to(.float32), out)
            }
            return out
        }
        var x: Tensor
        if manifest.kind == "latents", latentLogvar != nil {
            let mean = try picked(views.map(\.sample)), lv = try picked(views.compactMap(\.logvar))
            let noise = try Tensor.randn(mean.shape, dtype: .float32, generator: generator)
            x = try mean + (0.5 * lv).exp() * noise
            if let shiftFactor { x = try x - shiftFactor }
            x = try x * scalingFactor
        } else {
            x = try picked(views.map(\.sample)) / 127.5 - 1
        }
        return (try x.to(device), try inputIds.indexSelect(dim: 0, index: pick).to(device),
                try attentionMask.indexSelect(dim: 0, index: pick).to(device),
                try textEmbeddings.map { try $0.indexSelect(dim: 0, index: pick).to(device, .float32) })
    }
}

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
                            shard.add("pixels" + suffix, try ((x + 1) * 127.5).round().clamp(min: 0, max: 255).to(.uint8))
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
            // Lets tests stop a prepare between shards (an interruption at a known point).
            if let stop = ProcessInfo.processInfo.environment["DITKIT_PREPARE_STOP_AFTER_SHARDS"].flatMap(Int.init),
               journal.shards.count == stop {
                throw FileError(path: output.path, "stopped after \(stop) shards (DITKIT_PREPARE_STOP_AFTER_SHARDS)")
            }
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
        let manifest = CacheManifest(
            kind: o.vae == nil ? "pixels" : "latents", imageSize: o.imageSize, sampleShape: sampleShape, count: kept,
            captionCount: captionCount, maxLength: o.maxLength, textEmbeddingDim: empty.tensors["text_embeddings"]?.size(-1),
            flip: o.flip, crops: o.crops, views: o.views, shards: shards, skipped: skipped.map(\.description),
            skippedByReason: Dictionary(skipped.map { (reasonKind($0.reason), 1) }, uniquingKeysWith: +),
            truncatedCaptions: truncated, source: source)
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
            throw TorchError("the VAE produced non-finite latents in \(o.vaeDType) (the SD VAE overflows in float16): "
                + "use --vae-dtype fp32 or bf16")
        }
        return (try posterior.mean.to(.cpu, .float16), try posterior.logvar.to(.cpu, .float16))
    }

    /// Where crop `c` of item `index` sits along the longer side (0 ... 1): fixed by the item's place in the data, so
    /// a resumed or repeated prepare cuts the same crops.
    static func journalFile(in output: URL, rank: Int, of worldSize: Int) -> URL {
        output.appendingPathComponent(worldSize == 1 ? "progress.json" : "progress-\(rank)-of-\(worldSize).json")
    }

    static func cropPosition(_ index: Int, _ c: Int) -> Double {
        var rng = SplitMix64(seed: UInt64(index) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(c))
        return Double(rng.next() >> 11) / Double(1 << 53)
    }

    /// A skip reason without its details ("not a readable JPEG: Premature end" → "not a readable JPEG"), for counting.
    static func reasonKind(_ reason: String) -> String {
        String(reason.prefix { $0 != ":" && $0 != "(" }).trimmingCharacters(in: .whitespaces)
    }
}

/// progress.json (progress-R-of-W.json for rank R of W processes): the shards of an unfinished prepare, for the
/// settings and data of `fingerprint`.
struct PrepareJournal: Codable {
    let fingerprint: String
    var shards: [ShardRecord]
}

/// One finished shard: its file ("" when every image in it was skipped) and what it holds.
struct ShardRecord: Codable {
    /// Shard k holds items k·shardSize ..< end.
    let index: Int
    var name: String
    /// The index of the first item after this shard.
    let end: Int
    var records: [CaptionRecord] = []
    var skipped: [SkippedItem] = []
    var truncated = 0
    var sampleShape: [Int] = []
}

/// Tensors of one shard, gathered batch by batch.
private struct ShardBuffer {
    var parts: [String: [Tensor]] = [:]
    var isEmpty: Bool { parts.isEmpty }
    mutating func add(_ key: String, _ t: Tensor) { parts[key, default: []].append(t) }
    func tensors() throws -> [String: Tensor] { try parts.mapValues { try Tensor.cat($0, dim: 0) } }
}

/// Captions → token ids, masks and (with a frozen encoder) features, in mini-batches.
struct CaptionEncoding {
    let tokenizer: Tokenizer
    let maxLength: Int
    let textEncoder: (any CaptionEncoder)?
    let device: Device
    let batchSize: Int

    func callAsFunction(_ captions: [String], dtype: DType = .float16) throws -> (tensors: [String: Tensor], truncated: Int) {
        let (ids, mask) = try tokenizer.encodeTensors(captions, maxLength: maxLength)
        let truncated = try captions.filter { try tokenizer.encode($0).ids.count > maxLength }.count
        var tensors = ["input_ids": ids, "attention_mask": mask]
        if let textEncoder {
            var features: [Tensor] = []
            for start in stride(from: 0, to: captions.count, by: max(1, batchSize)) {
                let end = min(start + batchSize, captions.count)
                let h = try withNoGrad {
                    try textEncoder.captionFeatures(ids: try ids.slice(dim: 0, start: start, end: end).to(device),
                                                    mask: try mask.slice(dim: 0, start: start, end: end).to(device))
                }
                features.append(try h.to(.cpu, dtype))
            }
            tensors["text_embeddings"] = try Tensor.cat(features, dim: 0)
        }
        return (tensors, truncated)
    }
}
