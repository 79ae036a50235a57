@testable import Recipe
@testable import Training
import Foundation
import TestSupport
import Testing
import Torch

@Suite("Fine-tuning (--init-from)", .serialized)
struct FineTuneTests {
    /// A new run starts from a checkpoint's EMA weights exactly, at step 0, and trains; another architecture or
    /// --resume at the same time is a clear error.
    @Test func aNewRunStartsFromACheckpointsWeights() throws {
        let dir = try trainerFixture.get()
        let base = try Trainer(config: try tinyConfig(dir, name: "ft-base", steps: 4))
        base.quiet = true
        try base.train()
        let checkpoint = try #require(Checkpoint.latest(in: base.checkpointsDirectory))

        let config = try tinyConfig(dir, name: "ft-new", steps: 3, learningRate: "5.0e-4")
        try? FileManager.default.removeItem(at: config.run.directory)
        let tuned = try Trainer(config: config, initFrom: checkpoint)
        let ema = try SafeTensors.load(checkpoint.appendingPathComponent("ema.safetensors").path)
        let weights = Dictionary(tuned.models.stateDict(), uniquingKeysWith: { a, _ in a })
        #expect(Set(weights.keys) == Set(ema.keys))
        for (name, t) in ema { #expect(try maxAbsDiff(t, try #require(weights[name])) == 0, "\(name)") }
        #expect(tuned.state.step == 0)
        tuned.quiet = true
        try tuned.train()
        #expect(Checkpoint.list(tuned.checkpointsDirectory).last?.step == 3)

        #expect { try Trainer(config: config, resume: checkpoint, initFrom: checkpoint) } throws: {
            "\($0)".contains("give one of them")
        }
        #expect(throws: (any Error).self) { try Trainer(config: config.withModelLayers(2), initFrom: checkpoint) }
    }

    @Test func cliInitFromARunDirectory() throws {
        let dir = try trainerFixture.get()
        let base = try freshRunConfigFile(try tinyConfig(dir, name: "ft-cli-base", steps: 2), in: dir)
        #expect(try runDit(["train", "--config", base.path]).status == 0)
        let file = try freshRunConfigFile(try tinyConfig(dir, name: "ft-cli", steps: 2), in: dir)
        let (status, output) = try runDit(["train", "--config", file.path, "--init-from", dir.appendingPathComponent("runs/ft-cli-base").path])
        #expect(status == 0, "\(output)")
        #expect(output.contains("starting from the weights of") && output.contains("ft-cli-base/checkpoints/step-2"))
        let bad = try runDit(["train", "--config", file.path, "--init-from", dir.path])
        #expect(bad.status != 0 && bad.output.contains("not a checkpoint, nor a run with one"), "\(bad.output)")
    }
}
