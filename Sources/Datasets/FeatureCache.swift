import Foundation
import Models
import Support
import Tokenizers
import Torch

/// What `dit prepare` writes and `dit train` reads: the dataset turned into tensors once, so training never decodes
/// an image or runs the VAE or a frozen text encoder per step (fast-DiT's lesson).
///
/// cache/manifest.json, tokenizer.json, captions.jsonl and shard-NNNNN.safetensors holding, per sample:
/// `pixels` (uint8 [3, H, W]) or `latent_mean`/`latent_logvar` (float32, VAE space, unscaled);
/// `input_ids`/`attention_mask` (int64 [L]); and, with a frozen text encoder, `text_embeddings` (float16 [L, D]).
public struct CacheManifest: Codable, Equatable, Sendable {
    public var version = 1
    /// "pixels" or "latents".
    public var kind: String
    public var imageSize: Int
    public var sampleShape: [Int]
    public var count: Int
    public var maxLength: Int
    public var textEmbeddingDim: Int?
    public var shards: [String]
    public var skipped: [String]
    public var source: String

    enum CodingKeys: String, CodingKey {
        case version, kind, count, shards, skipped, source
        case imageSize = "image_size", sampleShape = "sample_shape", maxLength = "max_length"
        case textEmbeddingDim = "text_embedding_dim"
    }
}

/// All cached tensors in memory, stacked along the first dimension.
public struct CachedDataset {
    public let manifest: CacheManifest
    public let directory: URL
    /// uint8 pixels or float32 latent means.
    public let samples: Tensor
    public let latentLogvar: Tensor?
    public let inputIds: Tensor, attentionMask: Tensor
    public let textEmbeddings: Tensor?
    public let captions: [String]
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
            throw FileError(path: manifestURL.path, "not a DiTKit cache manifest: \(error)")
        }
        var parts: [String: [Tensor]] = [:]
        for shard in manifest.shards {
            for (k, v) in try SafeTensors.load(directory.appendingPathComponent(shard).path) { parts[k, default: []].append(v) }
        }
        func stacked(_ key: String) throws -> Tensor? { try parts[key].map { try Tensor.cat($0, dim: 0) } }
        guard let samples = try stacked(manifest.kind == "latents" ? "latent_mean" : "pixels"),
              let ids = try stacked("input_ids"), let mask = try stacked("attention_mask") else {
            throw FileError(path: directory.path, "cache shards lack samples or token ids")
        }
        guard samples.size(0) == manifest.count, ids.size(0) == manifest.count else {
            throw FileError(path: directory.path, "cache holds \(samples.size(0)) samples, manifest says \(manifest.count)")
        }
        self.samples = samples
        latentLogvar = try stacked("latent_logvar")
        inputIds = ids
        attentionMask = mask
        textEmbeddings = try stacked("text_embeddings")
        let captionData = FileManager.default.contents(atPath: directory.appendingPathComponent("captions.jsonl").path) ?? Data()
        captions = String(decoding: captionData, as: UTF8.self).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["text"] as? String
        }
    }

    public var tokenizerURL: URL { directory.appendingPathComponent("tokenizer.json") }

    /// Model inputs for the samples at `indices`: images in [−1, 1] (pixel caches) or scaled latents drawn from
    /// the cached posterior with `generator` (latent caches).
    public func batch(_ indices: Tensor, device: Device, scalingFactor: Double = 1, shiftFactor: Double? = nil,
                      generator: Generator? = nil) throws -> (x: Tensor, ids: Tensor, mask: Tensor, text: Tensor?) {
        let picked = try samples.indexSelect(dim: 0, index: indices)
        var x: Tensor
        if manifest.kind == "latents", let logvar = latentLogvar {
            let lv = try logvar.indexSelect(dim: 0, index: indices)
            let noise = try Tensor.randn(picked.shape, dtype: .float32, generator: generator)
            x = try picked + (0.5 * lv).exp() * noise
            if let shiftFactor { x = try x - shiftFactor }
            x = try x * scalingFactor
        } else {
            x = try picked.to(.float32) / 127.5 - 1
        }
        return (try x.to(device), try inputIds.indexSelect(dim: 0, index: indices).to(device),
                try attentionMask.indexSelect(dim: 0, index: indices).to(device),
                try textEmbeddings.map { try $0.indexSelect(dim: 0, index: indices).to(device, .float32) })
    }
}

/// `dit prepare`: an imagefolder → a cache.
public enum CachePreparer {
    public struct Options {
        public var imageSize: Int
        public var maxLength: Int
        /// nil: build a word-level tokenizer from the captions; else copy this tokenizer.json.
        public var tokenizer: URL?
        public var vae: AutoencoderKL?
        public var textEncoder: BertModel?
        /// Resize (centre crop + bilinear) images of another size instead of skipping them.
        public var resize = false
        public var shardSize = 1024
        public var device: Device = .cpu
        public init(imageSize: Int, maxLength: Int, tokenizer: URL? = nil) {
            self.imageSize = imageSize
            self.maxLength = maxLength
            self.tokenizer = tokenizer
        }
    }

    @discardableResult
    public static func prepare(imageFolder: URL, output: URL, options o: Options,
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> CacheManifest {
        let folder = try ImageFolder(directory: imageFolder)
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        var skipped = folder.skipped.map(\.description)
        // Images first: a caption only counts when its image is usable.
        var kept: [(caption: String, name: String, image: Tensor)] = []
        for (i, item) in folder.items.enumerated() {
            progress(i, folder.items.count)
            do {
                let img = try PNG.read(item.file)
                var t = try img.tensor()
                if img.width != o.imageSize || img.height != o.imageSize {
                    guard o.resize else {
                        skipped.append("\(item.file.lastPathComponent): is \(img.width)×\(img.height), expected \(o.imageSize)×\(o.imageSize) (pass --resize to resize)")
                        continue
                    }
                    t = try resized(t, to: o.imageSize)
                }
                kept.append((item.caption, item.file.lastPathComponent, t))
            } catch {
                skipped.append("\(item.file.lastPathComponent): \(error)")
            }
        }
        guard !kept.isEmpty else { throw FileError(path: imageFolder.path, "no usable images: \(skipped.prefix(5))") }

        let tokenizerURL = output.appendingPathComponent("tokenizer.json")
        if let source = o.tokenizer {
            let text = try String(contentsOf: source, encoding: .utf8)
            try AtomicFile.write(text, to: tokenizerURL)
        } else {
            try AtomicFile.write(try CaptionVocabulary.tokenizerJSON(captions: kept.map(\.caption)), to: tokenizerURL)
        }
        var tokenizer = try Tokenizer(contentsOf: tokenizerURL)
        tokenizer.padding = nil
        tokenizer.truncation = nil

        var shards: [String] = []
        var sampleShape: [Int] = []
        var textDim: Int?
        for start in stride(from: 0, to: kept.count, by: o.shardSize) {
            let part = Array(kept[start..<min(start + o.shardSize, kept.count)])
            let images = try Tensor.stack(part.map(\.image))
            var tensors: [String: Tensor] = [:]
            if let vae = o.vae {
                let posterior = try withNoGrad { try vae.encode(try images.to(o.device)) }
                tensors["latent_mean"] = try posterior.mean.to(.cpu, .float32)
                tensors["latent_logvar"] = try posterior.logvar.to(.cpu, .float32)
                sampleShape = Array(posterior.mean.shape.dropFirst())
            } else {
                tensors["pixels"] = try ((images + 1) * 127.5).round().clamp(min: 0, max: 255).to(.uint8)
                sampleShape = Array(images.shape.dropFirst())
            }
            let (ids, mask) = try tokenizer.encodeTensors(part.map(\.caption), maxLength: o.maxLength)
            tensors["input_ids"] = ids
            tensors["attention_mask"] = mask
            if let encoder = o.textEncoder {
                let h = try withNoGrad { try encoder(try ids.to(o.device), attentionMask: try mask.to(o.device)).lastHiddenState }
                tensors["text_embeddings"] = try h.to(.cpu, .float16)
                textDim = h.size(-1)
            }
            let name = String(format: "shard-%05d.safetensors", shards.count)
            try SafeTensors.save(tensors, metadata: ["source": "dit prepare"], to: output.appendingPathComponent(name).path)
            shards.append(name)
        }
        let captions = try kept.map { k in
            String(decoding: try JSONSerialization.data(withJSONObject: ["file_name": k.name, "text": k.caption], options: [.sortedKeys]), as: UTF8.self)
        }
        try AtomicFile.write(captions.joined(separator: "\n") + "\n", to: output.appendingPathComponent("captions.jsonl"))
        let manifest = CacheManifest(kind: o.vae == nil ? "pixels" : "latents", imageSize: o.imageSize, sampleShape: sampleShape,
                                     count: kept.count, maxLength: o.maxLength, textEmbeddingDim: textDim, shards: shards,
                                     skipped: skipped, source: imageFolder.path)
        try AtomicFile.writeJSON(manifest, to: output.appendingPathComponent("manifest.json"))
        return manifest
    }

    /// Centre crop to a square, then bilinear resize ([3, H, W] in [−1, 1]).
    static func resized(_ t: Tensor, to side: Int) throws -> Tensor {
        let h = t.size(1), w = t.size(2), s = min(h, w)
        let crop = try t.slice(dim: 1, start: (h - s) / 2, end: (h - s) / 2 + s).slice(dim: 2, start: (w - s) / 2, end: (w - s) / 2 + s)
        return try F.interpolate(crop.unsqueezed(0), size: (side, side), mode: .bilinear).squeezed(0).clamp(min: -1, max: 1)
    }
}
