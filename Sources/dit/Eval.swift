import ArgumentParser
import Core
import Course
import Datasets
import Foundation
import Inference
import Torch

/// `dit eval --checkpoint PATH`: caption faithfulness on the shapes data.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score how well generated shapes follow their captions (color, shape, position, size).")

    @OptionGroup var weights: CheckpointOptions
    @Option(help: "Prompts from the training distribution.") var prompts = 64
    @Option(help: "Held-out 'COLOR SHAPE' pairs to test separately (repeatable).") var holdout: [String] = []
    @Option(help: "Prompts per held-out set.") var heldOutPrompts = 32
    @OptionGroup var sampling: SamplingOptions
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Where to write the scores.") var output = "eval.json"
    @Option(help: "Also write a PNG grid of the generated images here.") var grid: String?
    @OptionGroup var device: RunDeviceOptions

    func run() throws {
        let scores = try OutputLocation.file(output, option: "--output")
        let gridURL = try grid.map { try OutputLocation.file($0, option: "--grid") }
        let run = try weights.load(on: device)
        var kept: [RGBImage] = []
        let result = try ShapesEvaluation.evaluate(run, prompts: prompts, holdout: holdout, heldOutPrompts: heldOutPrompts,
                                                   steps: sampling.steps,
                                                   cfgScale: sampling.singleScale(command: "dit eval"), seed: seed) { kept.append($1) }
        func line(_ name: String, _ s: ShapesEvaluation.Scores) -> String {
            String(format: "%@ (%d prompts): color %.2f  shape %.2f  position %.2f  size %.2f  overall %.2f",
                   name, s.count, s.color, s.shape, s.position, s.size, s.overall)
        }
        print(line("training distribution", result.trainDistribution))
        if let h = result.heldOut { print(line("held-out combinations", h)) }
        try AtomicFile.writeJSON(result, to: scores)
        if let gridURL { try PNG.write(imageGrid(kept, columns: 8, scale: 2), to: gridURL) }
        print("scores written to \(output)" + (grid.map { ", the grid to \($0)" } ?? ""))
    }
}
