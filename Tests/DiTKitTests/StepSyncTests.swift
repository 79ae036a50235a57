@testable import Recipe
@testable import Training
import Foundation
import TestSupport
import Testing
import Torch

/// A training step the GPU never waits on, counted on the CPU: the host reads nothing back inside a step (a report
/// step reads once), and the optimizer tail is a fixed number of multi-tensor calls whatever the model's size.
@Suite("A step that never waits", .serialized)
struct StepSyncTests {
    /// Every precision the CPU runs, clipping on and off, accumulation 1 and 2, EMA on: a plain step makes no host
    /// synchronisation, a report step (logging, checkpoint) exactly one.
    @Test(arguments: [("no", "1.0", 1), ("no", "null", 2), ("bf16", "1.0", 2), ("bf16", "null", 1)])
    func noSyncInsideAStep(precision: String, maxGradNorm: String, accumulation: Int) throws {
        let dir = try trainerFixture.get()
        let config = try tinyConfig(dir, name: "syncs-\(precision)-\(accumulation)", steps: 10, extra: """
              gradient_accumulation_steps: \(accumulation)
              mixed_precision: \(precision)
            """).with(maxGradNorm: maxGradNorm)
        let trainer = try Trainer(config: config, dryRun: true)
        _ = try trainer.optimizerStep(report: false)  // optimizer state and EMA made
        let plain = try OpRecorder.count { try trainer.optimizerStep(report: false) }.count
        #expect(plain.syncs == 0, "\(plain.syncSummary)")
        let report = try OpRecorder.count { try trainer.optimizerStep(report: true) }
        #expect(report.count.syncs == 1, "\(report.count.syncSummary)")
        #expect(report.result.report.map { $0.loss.isFinite && $0.gradNorm!.isFinite } == true)
        // The report's loss is the step's: the same value the old per-step read gave.
        #expect(trainer.state.loss == report.result.report?.loss)
    }

    /// fp16's loss scaling stays on the device: scaling, the overflow check with unscaling, the skipped AdamW update
    /// and the scale's update make no synchronisation; the overflowed step leaves weights and moments as they were.
    @Test func lossScalingNeverWaits() throws {
        manualSeed(3)
        let model = Sequential(Linear(6, 16), Activation(.silu), Linear(16, 2))
        let optimizer = try AdamW(model, lr: 1e-2)
        let ema = try EMA(model, decay: 0.99)
        let scaler = GradScaler(initScale: 1024, growthInterval: 3)
        var steps = 0
        func step(poison: Bool) throws -> Tensor {
            optimizer.zeroGrad()
            try scaler.scaled(try model(try Tensor.randn([8, 6])).pow(2).mean()).backward()
            if poison { try withNoGrad { try model.parameters()[2].grad!.fill_(.nan) } }
            let foundInf = try scaler.unscale(model.parameters())
            try clipGradNorm_(model.parameters(), maxNorm: 1)
            try optimizer.step(foundInf: foundInf)
            try scaler.update(foundInf: foundInf)
            steps += 1
            try ema.update(step: steps)
            return foundInf
        }
        _ = try step(poison: false)
        for poison in [false, true, false] {
            let before = try Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.0, try $0.1.clone()) })
            let counted = try OpRecorder.count { try step(poison: poison) }
            #expect(counted.count.syncs == 0, "\(counted.count.syncSummary)")
            #expect(try counted.result.item() == (poison ? 1 : 0))
            for (name, after) in model.stateDict() {
                #expect(try (maxAbsDiff(before[name]!, after) == 0) == poison, "\(name): poison \(poison)")
            }
        }
        let state = try scaler.state
        #expect(state.scale == 512 && state.growthTracker == 1, "\(state)")
        #expect(optimizer.stepCount == 3)  // 4 steps, one skipped
    }

    /// The tail — clipping, AdamW and EMA — is a fixed number of calls: four times the parameters, the same count.
    @Test func theOptimizerTailIsMultiTensor() throws {
        func tailCalls(layers: Int) throws -> Int {
            var modules: [any Layer] = []
            for _ in 0..<layers { modules.append(Linear(8, 8)) }
            let model = Sequential(modules)
            let optimizer = try AdamW(model, lr: 1e-3)
            let ema = try EMA(model)
            try model(try Tensor.randn([4, 8])).pow(2).mean().backward()
            try optimizer.step()  // the moments are made on the first step
            return try OpRecorder.count {
                try clipGradNorm_(model.parameters(), maxNorm: 1)
                try optimizer.step()
                try ema.update(step: 1)
            }.count.calls
        }
        let small = try tailCalls(layers: 2), large = try tailCalls(layers: 8)
        #expect(small == large, "2 layers: \(small) calls, 8 layers: \(large)")
        #expect(small < 20)
    }

    /// A NaN gradient between two reports, with clipping: each update is skipped on the device (the weights stay as
    /// they were), and the next report stops the run naming the steps; no checkpoint holds the NaN.
    @Test func nonFiniteGradientsBetweenReportsAreSkippedOnTheDevice() throws {
        let dir = try trainerFixture.get()
        var config = try tinyConfig(dir, name: "nan-between", steps: 8).with(maxGradNorm: "1.0")
        config.run.logEvery = 4
        config.model.learnSigma = true
        config.model.outChannels = 2 * config.model.inChannels
        try? FileManager.default.removeItem(at: config.run.directory)
        let trainer = try Trainer(config: config)
        trainer.quiet = true
        // An infinite Σ half of the projection: the loss never reads it (finite), backward makes NaN below it.
        let projOut = trainer.models.transformer.projOut, inChannels = config.model.inChannels
        let rows = projOut.weight.size(0), columns = projOut.weight.size(1)
        var w = try projOut.weight.contiguous().toArray(Float.self)
        for row in 0..<rows where row % (2 * inChannels) >= inChannels {
            for c in 0..<columns { w[row * columns + c] = .infinity }
        }
        try withNoGrad { try projOut.weight.copy_(try Tensor(w).reshaped(rows, columns)) }
        let before = try Dictionary(uniqueKeysWithValues: trainer.models.transformer.stateDict().map { ($0.0, try $0.1.clone()) })
        do {
            try trainer.train()
            Issue.record("a NaN gradient must stop the run")
        } catch {
            #expect("\(error)".contains("not finite at 3 of the steps 1 to 3"), "\(error)")
        }
        #expect(trainer.optimizer.stepCount == 0)  // the report step stopped before its own update
        for (name, after) in trainer.models.transformer.stateDict() {
            #expect(try maxAbsDiff(before[name]!, after) == 0 || name == "proj_out.weight", "\(name) changed")
        }
        #expect(Checkpoint.list(trainer.checkpointsDirectory).isEmpty)
    }
}

extension TrainConfig {
    /// The config with `optimizer.max_grad_norm` set ("null": no clipping).
    func with(maxGradNorm: String) -> TrainConfig {
        var c = self
        c.optimizer.maxGradNorm = Double(maxGradNorm)
        return c
    }
}
