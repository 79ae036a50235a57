import Core
import Datasets
import Foundation
import Tokenizers
import Torch

/// Token ids [B, L] and attention mask [B, L] of captions, with their frozen encoder's features [B, L, D] when the
/// cache holds them.
public struct CaptionTensors {
    public var ids: Tensor, mask: Tensor, text: Tensor?
    public init(ids: Tensor, mask: Tensor, text: Tensor?) { (self.ids, self.mask, self.text) = (ids, mask, text) }

    public func to(_ device: Device) throws -> CaptionTensors {
        CaptionTensors(ids: try ids.to(device), mask: try mask.to(device), text: try text?.to(device))
    }
}

/// One batch of model inputs from the cache: clean samples (images in [−1, 1] or scaled latents) and their captions.
public struct TrainingBatch {
    public let x: Tensor
    public let captions: CaptionTensors
}

/// All cached tensors in memory, stacked along the first dimension.
public struct CachedDataset {
    public let manifest: CacheManifest
    public let directory: URL
    /// The tokenizer.json the captions were encoded with (the run keeps a copy).
    public let tokenizer: Tokenizer
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
    public let emptyCaption: CaptionTensors
    public var count: Int { manifest.count }
    /// Random tensors of a cache's shapes (`synthetic`), for a dry run before any data is prepared.
    public let isSynthetic: Bool

    public init(directory: URL) throws {
        isSynthetic = false
        self.directory = directory
        guard let manifest = try CacheManifest.read(from: directory) else {
            throw FileError(path: directory.appendingPathComponent("manifest.json").path, "no cache here: run `dit prepare` first")
        }
        self.manifest = manifest
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
        tokenizer = try Tokenizer(contentsOf: directory.appendingPathComponent("tokenizer.json"))
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
        emptyCaption = CaptionTensors(ids: emptyIds, mask: emptyMask, text: try empty["text_embeddings"]?.to(.float32))
    }

    public var tokenizerURL: URL { directory.appendingPathComponent("tokenizer.json") }

    /// A stand-in for the cache `manifest` describes, `manifest.count` images of random samples and captions:
    /// what `dit train --dry-run` measures with before anything is downloaded or prepared. `textWidth` is the frozen
    /// encoder's feature width (nil: the encoder trains with the DiT, from token ids of `tokenizer`).
    public init(synthetic manifest: CacheManifest, tokenizer: Tokenizer, textWidth: Int?) throws {
        isSynthetic = true
        self.manifest = manifest
        self.tokenizer = tokenizer
        directory = URL(fileURLWithPath: "/dev/null/synthetic-cache")
        let n = manifest.count, length = manifest.maxLength
        let g = try Generator(seed: 0)
        if manifest.kind == "latents" {
            samples = try Tensor.randn([n] + manifest.sampleShape, generator: g).to(.float16)
            latentLogvar = try Tensor.full([n] + manifest.sampleShape, -10, dtype: .float16)
        } else {
            samples = try (Tensor.rand([n] + manifest.sampleShape, generator: g) * 255).to(.uint8)
            latentLogvar = nil
        }
        views = [(samples, latentLogvar)]
        inputIds = try Tensor.randint(0, max(1, tokenizer.vocabSize), [n, length], generator: g)
        attentionMask = try Tensor.ones([n, length], dtype: .int64)
        textEmbeddings = try textWidth.map { try Tensor.randn([n, length, $0], generator: g).to(.float16) }
        captionCount = try Tensor.ones([n], dtype: .int64)
        captionStart = try Tensor.arange(0, Double(n))
        emptyCaption = CaptionTensors(ids: try inputIds.slice(dim: 0, start: 0, end: 1),
                                      mask: try attentionMask.slice(dim: 0, start: 0, end: 1),
                                      text: try textEmbeddings?.slice(dim: 0, start: 0, end: 1).to(.float32))
    }

    /// What the cache holds, wherever it lies: a fingerprint of its captions file (every image's file name and
    /// captions, in cache order) and of its samples' kind and shape. A resume compares it with the checkpoint's, so a
    /// run goes on with the data it started with even when data.cache is spelled differently or was moved.
    public func identity() throws -> String {
        if isSynthetic { return "synthetic" }
        let captions = try String(contentsOf: directory.appendingPathComponent("captions.jsonl"), encoding: .utf8)
        return fnv1a64("\(manifest.kind) \(manifest.sampleShape) \(manifest.count) \(manifest.views)\n" + captions)
    }

    /// Every image's file name and captions, in cache order.
    public func captionRecords() throws -> [CaptionRecord] {
        let text = try String(contentsOf: directory.appendingPathComponent("captions.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(CaptionRecord.self, from: Data($0.utf8)) }
    }

    /// The captions of every image, in cache order.
    public func captions() throws -> [[String]] { try captionRecords().map(\.captions) }

    /// Every image's stored sample of `view` (0: the centre crop or first crop), as written: uint8 pixels [N, 3, H, W]
    /// or the latent posterior's float16 mean [N, C, h, w] (the memorisation check compares against these).
    public func storedSamples(view: Int = 0) -> Tensor { views[min(max(0, view), views.count - 1)].sample }

    /// Model inputs for the images at `indices`: images in [−1, 1] (pixel caches) or scaled latents drawn from the
    /// cached posterior (latent caches), each with one of its captions and one of its views (crops, flips) drawn at
    /// random. Every draw uses `generator` (default: the global one, which checkpoints save).
    public func batch(_ indices: Tensor, device: Device, scalingFactor: Double = 1, shiftFactor: Double? = nil,
                      generator: Generator? = nil) throws -> TrainingBatch {
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
            x = try ImageTransform.unitRange(try picked(views.map(\.sample)))
        }
        let captions = CaptionTensors(
            ids: try Self.upload(inputIds.indexSelect(dim: 0, index: pick), to: device),
            mask: try Self.upload(attentionMask.indexSelect(dim: 0, index: pick), to: device),
            text: try textEmbeddings.map { try Self.upload($0.indexSelect(dim: 0, index: pick), to: device).to(.float32) })
        return TrainingBatch(x: try Self.upload(x, to: device), captions: captions)
    }

    /// A batch assembled on the host, to `device`: on a GPU through page-locked memory without waiting (the copy is
    /// queued on the device's stream, ahead of the kernels that read it), so the host goes on to the next step
    /// while the GPU still works on this one. A plain copy from pageable memory would make it wait every time.
    static func upload(_ t: Tensor, to device: Device) throws -> Tensor {
        guard case .cuda = device else { return try t.to(device) }
        return try t.contiguous().pinnedMemory().to(device, nonBlocking: true)
    }
}
