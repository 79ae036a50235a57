import Core
import Foundation

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
    public var kind = "pixels"
    public var imageSize = 0
    public var sampleShape: [Int] = []
    /// Images, and captions over all images.
    public var count = 0
    public var captionCount = 0
    public var maxLength = 0
    public var textEmbeddingDim: Int? = nil
    /// Augmentations, cached: each image's `crops` random crops (0: the centre crop alone), each also mirrored with
    /// `flip`; `views` = max(1, crops) × (flip ? 2 : 1) versions, one drawn per image and step.
    public var flip = false
    public var crops = 0
    public var views = 1
    public var shards: [String] = []
    public var skipped: [String] = []
    public var skippedByReason: [String: Int] = [:]
    /// Captions longer than max_length tokens, cut to fit.
    public var truncatedCaptions = 0
    public var source = ""

    public init() {}

    /// The manifest of the cache in `directory`; nil when there is none (no cache there, or an unfinished prepare).
    /// A manifest that does not decode is an error naming the file.
    public static func read(from directory: URL) throws -> CacheManifest? {
        let url = directory.appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(CacheManifest.self, from: data)
        } catch {
            throw FileError(path: url.path, "not a DiTKit cache manifest (written by an older version? run "
                + "`dit prepare` again): \(error)")
        }
    }

    enum CodingKeys: String, CodingKey {
        case version, kind, count, flip, crops, views, shards, skipped, source
        case imageSize = "image_size", sampleShape = "sample_shape", captionCount = "caption_count"
        case maxLength = "max_length", textEmbeddingDim = "text_embedding_dim", skippedByReason = "skipped_by_reason"
        case truncatedCaptions = "truncated_captions"
    }
}

/// One caption per line of captions.jsonl.
public struct CaptionRecord: Codable, Sendable {
    public let fileName: String
    public let captions: [String]
    public init(fileName: String, captions: [String]) { (self.fileName, self.captions) = (fileName, captions) }
    enum CodingKeys: String, CodingKey { case fileName = "file_name", captions }
}
