@testable import Recipe
@testable import Training
import Foundation
import TestSupport
import Testing
import Torch

@Suite("Dry run", .serialized)
struct DryRunTests {
    /// The dry run trains a few real steps and reports what they held: at least the weights, their gradients, AdamW's
    /// two moments and the EMA copy (float32), more for a larger batch (activations), and it writes nothing.
    @Test func reportsParametersAndPeakMemoryWithoutWriting() throws {
        let dir = try trainerFixture.get()
        var peaks: [Int] = []
        for batch in [8, 32] {
            var config = try tinyConfig(dir, name: "dry-\(batch)", steps: 100)
            config.training.batchSize = batch
            let trainer = try Trainer(config: config)
            let report = try trainer.dryRun(steps: 3)
            let trainable = trainer.optimizer.parameters.reduce(0) { $0 + $1.1.count }
            #expect(report.trainableParameters == trainable)
            #expect(report.ditParameters == trainer.models.transformer.parameterCount)
            #expect(report.textEncoderParameters == trainer.models.textEncoder?.parameterCount)
            #expect(report.peakAllocated >= 5 * 4 * trainable, "weights, gradients, two moments and the EMA")
            #expect(report.secondsPerStep > 0 && report.steps == 3)
            #expect(!FileManager.default.fileExists(atPath: config.run.directory.path))
            peaks.append(report.peakAllocated)
        }
        #expect(peaks[1] > peaks[0], "a 4× batch holds more activations: \(peaks)")
        let lines = try Trainer(config: tinyConfig(dir, name: "dry-lines", steps: 10)).dryRun().lines()
        #expect(lines.contains { $0.hasPrefix("fits a 24 GB card:      yes") })
    }

    @Test func cliDryRunPrintsTheReport() throws {
        let dir = try trainerFixture.get()
        let file = try freshRunConfigFile(try tinyConfig(dir, name: "dry-cli", steps: 10), in: dir)
        let (status, output) = try runDit(["train", "--config", file.path, "--dry-run", "--dry-run-steps", "2"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("nothing is written") && output.contains("peak tensor memory"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs/dry-cli").path))
    }
}
