import ArgumentParser
import Datasets
import Foundation
import Pipeline
import Runs
import Support
import Torch

/// `dit eval --checkpoint PATH`: caption faithfulness on the shapes data.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score how well generated shapes follow their captions (color, shape, position, size).")

    @Option(help: "A checkpoint or run directory.") var checkpoint: String
    @Option(help: "Prompts from the training distribution.") var prompts = 64
    @Option(help: "Held-out 'COLOR SHAPE' pairs to test separately (repeatable).") var holdout: [String] = []
    @Option(help: "Prompts per held-out set.") var heldOutPrompts = 32
    @Option(help: "Sampling steps.") var steps = 25
    @Option(help: "Guidance scale.") var cfgScale = 4.0
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Where to write the scores.") var output = "eval.json"
    @Option(help: "Also write a PNG grid of the generated images here.") var grid: String?
    @Option(help: "cpu, cuda or cuda:N.") var device = Device.cpu
    @Flag(help: "Use the raw weights instead of the EMA.") var noEma = false

    func run() throws {
        let run = try TrainedRun(path: URL(fileURLWithPath: checkpoint), useEMA: !noEma, device: device)
        var kept: [RGBImage] = []
        let result = try ShapesEvaluation.evaluate(run, prompts: prompts, holdout: holdout, heldOutPrompts: heldOutPrompts,
                                                   steps: steps, cfgScale: cfgScale, seed: seed) { kept.append($1) }
        func line(_ name: String, _ s: ShapesEvaluation.Scores) -> String {
            String(format: "%@ (%d prompts): color %.2f  shape %.2f  position %.2f  size %.2f  overall %.2f",
                   name, s.count, s.color, s.shape, s.position, s.size, s.overall)
        }
        print(line("training distribution", result.trainDistribution))
        if let h = result.heldOut { print(line("held-out combinations", h)) }
        try AtomicFile.writeJSON(result, to: URL(fileURLWithPath: output))
        if let grid { try PNG.write(imageGrid(kept, columns: 8, scale: 2), to: URL(fileURLWithPath: grid)) }
        print("scores written to \(output)")
    }
}
