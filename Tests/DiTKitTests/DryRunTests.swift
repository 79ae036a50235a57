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

@Suite("Before any download", .serialized)
struct DryRunBeforeDownloadTests {
    /// The seed config's memory report from two config.json files (the SD VAE's and MiniLM's), no cache and no
    /// weights, on the CPU: random data of the cache's shapes, fp16 measured as bf16.
    @Test func theSeedConfigDryRunsWithoutCacheOrWeights() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("configs"), to: dir.appendingPathComponent("configs"))
        for (model, source) in [("sd-vae-ft-mse", "benchmarks/gpu/sd-vae-ft-mse"), ("all-MiniLM-L6-v2", "benchmarks/gpu/minilm")] {
            let folder = dir.appendingPathComponent("models/\(model)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("\(source)/config.json"),
                                             to: folder.appendingPathComponent("config.json"))
        }
        let run = try runProcess(ditBinary(), ["train", "--config", "configs/rtx4090-256.yaml", "--dry-run", "--device", "cpu",
                                               "--dry-run-steps", "2"], directory: dir)
        #expect(run.status == 0, "\(run.output)")
        for needed in ["no cache at data.cache cache/coco-256", "latents [4, 32, 32], text features 64 × 384",
                       "measures bf16", "DiT parameters", "peak tensor memory", "fits a 24 GB card"] {
            #expect(run.output.contains(needed), "missing '\(needed)' in: \(run.output)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs").path), "nothing written")
        // A real run still needs the weights and the cache, and says so before anything loads.
        let real = try runProcess(ditBinary(), ["train", "--config", "configs/rtx4090-256.yaml", "--device", "cpu"], directory: dir)
        #expect(real.status != 0 && real.output.contains("fp16, which needs a CUDA device"), "\(real.output)")
    }

    /// generate, eval and export run where the run trained when that device works here, else on the CPU, and say so.
    @Test func inferenceFallsBackToTheCPUAndSaysWhy() throws {
        guard !Runtime.cudaAvailable else { return }  // on a GPU machine the run's CUDA device is used
        let (config, _) = try trainedRun("gpu-trained")
        let recorded = config.run.directory.appendingPathComponent("config.yaml")
        let text = try String(contentsOf: recorded, encoding: .utf8)
        try text.replacingOccurrences(of: "device: cpu", with: "device: cuda").write(to: recorded, atomically: true, encoding: .utf8)
        let out = try temporaryDirectory().appendingPathComponent("g.png")
        let g = try runProcess(ditBinary(), ["generate", "--checkpoint", config.run.directory.path, "a red circle",
                                             "--steps", "2", "--output", out.path])
        #expect(g.status == 0 && g.output.contains("device: cpu; the run trained on cuda") && g.output.contains("cannot be used here"),
                "\(g.output)")
    }
}
