import Core
import Foundation
import Models
import Recipe
import Tokenizers
import Torch

/// Writes a run's checkpoint as Hugging Face component folders: transformer/ (diffusers PixArtTransformer2DModel),
/// scheduler/ (scheduler_config.json for the run's sampler), tokenizer/ (tokenizer.json + tokenizer_config.json),
/// text_encoder/ (the encoder trained with the DiT, or the frozen one it trained on: transformers CLIPTextModel or
/// BertModel) and, for latent runs, vae/ and model_index.json, so that
/// `DiffusionPipeline.from_pretrained(dir)` builds a `PixArtAlphaPipeline` that generates as `dit generate` does.
/// A pixel-space run has no VAE, which PixArtAlphaPipeline needs: its folders load one by one
/// (`PixArtTransformer2DModel.from_pretrained(dir + "/transformer")`, ...) and `pipeline` is false.
public enum DiffusersExport {
    public struct Result {
        /// The folders written.
        public let parts: [String]
        /// Whether model_index.json was written (a latent run).
        public let pipeline: Bool
    }

    @discardableResult
    public static func export(_ run: TrainedRun, to directory: URL) throws -> Result {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // A killed export's temporaries; model_index.json is written last, so a folder without it is unfinished.
        for part in ["", "transformer", "scheduler", "tokenizer", "text_encoder", "vae"] {
            AtomicFile.removeLeftovers(in: directory.appendingPathComponent(part))
        }
        var parts: [String] = [], index: [String: JSONValue] = [:]
        func component(_ name: String, _ library: String, _ className: String) {
            parts.append(name)
            index[name] = .array([.string(library), .string(className)])
        }
        try run.models.transformer.save(to: directory.appendingPathComponent("transformer"))
        component("transformer", "diffusers", PixArtTransformer2DConfig.className)
        let scheduler = try Components.sampler(run.config)
        try scheduler.save(to: directory.appendingPathComponent("scheduler"))
        component("scheduler", "diffusers", type(of: scheduler).className)

        let tokenizerDir = directory.appendingPathComponent("tokenizer")
        try FileManager.default.createDirectory(at: tokenizerDir, withIntermediateDirectories: true)
        let runDir = run.checkpoint.deletingLastPathComponent().deletingLastPathComponent()
        try AtomicFile.write(try Data(contentsOf: runDir.appendingPathComponent("tokenizer.json")),
                             to: tokenizerDir.appendingPathComponent("tokenizer.json"))
        // What transformers' PreTrainedTokenizerFast needs besides tokenizer.json: the length and the pad token.
        var tokenizerConfig: [String: JSONValue] = [
            "tokenizer_class": .string("PreTrainedTokenizerFast"),
            "model_max_length": .integer(run.config.textEncoder.maxLength),
        ]
        if let pad = run.tokenizer.padId.flatMap(run.tokenizer.token(for:)) { tokenizerConfig["pad_token"] = .string(pad) }
        try AtomicFile.write(JSONValue.object(JSONObject(tokenizerConfig)).serialized(),
                             to: tokenizerDir.appendingPathComponent("tokenizer_config.json"))
        component("tokenizer", "transformers", "PreTrainedTokenizerFast")

        let textEncoderDir = directory.appendingPathComponent("text_encoder")
        if let encoder = run.models.textEncoder ?? (run.frozenEncoder as? CLIPTextModel) {
            try encoder.save(to: textEncoderDir)
            component("text_encoder", "transformers", "CLIPTextModel")
        } else if let bert = run.frozenEncoder as? BertModel {
            try bert.save(to: textEncoderDir)
            component("text_encoder", "transformers", "BertModel")
        }
        guard let vae = run.vae else { return Result(parts: parts, pipeline: false) }
        try vae.save(to: directory.appendingPathComponent("vae"))
        component("vae", "diffusers", AutoencoderKLConfig.className)
        index["_class_name"] = .string("PixArtAlphaPipeline")
        index["_diffusers_version"] = .string("0.42.1")
        try AtomicFile.write(JSONValue.object(JSONObject(index)).serialized(),
                             to: directory.appendingPathComponent("model_index.json"))
        return Result(parts: parts, pipeline: true)
    }
}
