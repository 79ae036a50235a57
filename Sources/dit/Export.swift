import ArgumentParser
import Foundation
import Runs
import Torch

/// `dit export --checkpoint PATH --diffusers DIR`.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint as diffusers/transformers folders (transformer, scheduler, tokenizer, text_encoder).")

    @Option(help: "A checkpoint or run directory.") var checkpoint: String
    @Option(help: "Output directory.") var diffusers: String
    @Flag(help: "Export the raw weights instead of the EMA.") var noEma = false

    func run() throws {
        let run = try TrainedRun(path: URL(fileURLWithPath: checkpoint), useEMA: !noEma)
        let parts = try DiffusersExport.export(run, to: URL(fileURLWithPath: diffusers))
        print("exported \(run.checkpoint.lastPathComponent) (\(noEma ? "raw" : "EMA") weights) to \(diffusers): \(parts.joined(separator: ", "))")
    }
}
