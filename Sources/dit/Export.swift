import ArgumentParser
import Core
import Foundation
import Inference
import Torch

/// `dit export --checkpoint PATH --diffusers DIR`.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint as a diffusers pipeline directory (model_index.json, transformer, scheduler, "
            + "tokenizer, text_encoder, vae).")

    @OptionGroup var weights: CheckpointOptions
    @Option(help: "Output directory.") var diffusers: String
    @OptionGroup var device: RunDeviceOptions

    func run() throws {
        try OutputLocation.folder(diffusers, option: "--diffusers")
        let run = try weights.load(on: device)
        let result = try DiffusersExport.export(run, to: URL(fileURLWithPath: diffusers))
        if result.pipeline {
            print("load it in Python: DiffusionPipeline.from_pretrained(\"\(diffusers)\") (a PixArtAlphaPipeline; call it "
                + "with use_resolution_binning=False, clean_caption=False, max_sequence_length=\(run.config.textEncoder.maxLength))")
        } else {
            print("a pixel-space run has no VAE, which PixArtAlphaPipeline needs: load the parts one by one, e.g. "
                + "PixArtTransformer2DModel.from_pretrained(\"\(diffusers)/transformer\")")
        }
        // Last, so the final line names what was written.
        print("exported \(run.checkpoint.path) (\(weights.weightsName) weights) to \(diffusers): "
            + result.parts.map { $0 + "/" }.joined(separator: ", ") + (result.pipeline ? ", model_index.json" : ""))
    }
}
