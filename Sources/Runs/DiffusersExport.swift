import Foundation
import Models
import Support
import Torch
import Training

/// Writes a run's checkpoint as Hugging Face component folders: transformer/ (diffusers
/// PixArtTransformer2DModel), scheduler/ (scheduler_config.json for the run's sampler), tokenizer/
/// (tokenizer.json + tokenizer_config.json) and, when trained jointly, text_encoder/ (transformers CLIPTextModel).
public enum DiffusersExport {
    @discardableResult
    public static func export(_ run: TrainedRun, to directory: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var written: [String] = []
        try run.models.transformer.save(to: directory.appendingPathComponent("transformer"))
        written.append("transformer")
        try DiffusionSetup.sampler(run.config).save(to: directory.appendingPathComponent("scheduler"))
        written.append("scheduler")
        let tokenizerDir = directory.appendingPathComponent("tokenizer")
        try FileManager.default.createDirectory(at: tokenizerDir, withIntermediateDirectories: true)
        let runDir = run.checkpoint.deletingLastPathComponent().deletingLastPathComponent()
        try AtomicFile.write(try String(contentsOf: runDir.appendingPathComponent("tokenizer.json"), encoding: .utf8),
                                           to: tokenizerDir.appendingPathComponent("tokenizer.json"))
        let tokenizerConfig: JSONValue = .object([
            "tokenizer_class": .string("PreTrainedTokenizerFast"),
            "model_max_length": .integer(run.config.textEncoder.maxLength),
            "pad_token": .string("<|pad|>"), "unk_token": .string("<|unk|>"),
            "bos_token": .string("<|startoftext|>"), "eos_token": .string("<|endoftext|>"),
        ])
        if run.models.textEncoder != nil {
            try AtomicFile.write(tokenizerConfig.serialized(), to: tokenizerDir.appendingPathComponent("tokenizer_config.json"))
        }
        written.append("tokenizer")
        if let encoder = run.models.textEncoder {
            try encoder.save(to: directory.appendingPathComponent("text_encoder"))
            written.append("text_encoder")
        }
        if let vae = run.vae {
            try vae.save(to: directory.appendingPathComponent("vae"))
            written.append("vae")
        }
        return written
    }
}
