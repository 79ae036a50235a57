import Datasets
import Foundation
import Models
import Torch

extension CachePreparer {
    /// `dit prepare`: the cache `config` trains from — its image size and caption length, and its VAE and frozen
    /// text encoder (loaded on run.device) — written to `output` (default: data.cache).
    @discardableResult
    public static func prepare(imageFolder: URL, config c: TrainConfig, output: URL? = nil, resize: Bool = false,
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> CacheManifest {
        var options = Options(imageSize: c.data.imageSize, maxLength: c.textEncoder.maxLength)
        options.resize = resize
        options.device = c.run.device
        if let vae = c.vae { options.vae = try AutoencoderKL.load(from: URL(fileURLWithPath: vae.path), device: c.run.device) }
        if let path = c.textEncoder.path {
            let dir = URL(fileURLWithPath: path)
            options.tokenizer = dir.appendingPathComponent("tokenizer.json")
            if c.textEncoder.type == .minilm { options.textEncoder = try BertModel.load(from: dir, device: c.run.device) }
        }
        return try prepare(imageFolder: imageFolder, output: output ?? URL(fileURLWithPath: c.data.cache),
                           options: options, progress: progress)
    }
}
