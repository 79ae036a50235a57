import Foundation
import TestSupport
import Testing
@testable import Torch

@Suite("Optimizers", .serialized)
struct OptimTests {
    /// torch.optim.AdamW with weight decay and clip_grad_norm_, 5 steps (Tests/Fixtures/adamw).
    @Test(arguments: [true, false])
    func adamwMatchesPyTorch(fused: Bool) throws {
        let t = try fixture("adamw.safetensors")
        let model = Sequential(Linear(4, 6), Activation(.tanh), Linear(6, 2))
        var initial: [String: Tensor] = [:]
        for (k, _) in model.stateDict() { initial[k] = try t.tensor("init." + k) }
        try model.load(stateDict: initial)
        let optimizer = try AdamW(model, lr: 0.05, betas: (0.9, 0.99), eps: 1e-8, weightDecay: 0.1, fused: fused)
        let x = try t.tensor("x"), y = try t.tensor("y")
        let losses = try t.tensor("losses").doubles(), norms = try t.tensor("grad_norms").doubles()
        for step in 1...5 {
            optimizer.zeroGrad()
            let loss = try F.mseLoss(try model(x), y)
            try loss.backward()
            let norm = try clipGradNorm(model.parameters(), maxNorm: 0.5)
            try optimizer.step()
            #expect(Swift.abs(try loss.item() - losses[step - 1]) < 1e-6)
            #expect(Swift.abs(norm - norms[step - 1]) < 1e-5, "grad norm \(norm) vs \(norms[step - 1])")
            for (k, p) in model.stateDict() {
                let d = try maxAbsDiff(p, t.tensor("step\(step).\(k)"))
                #expect(d < 1e-6, "step \(step) \(k): \(d)")
            }
        }
        #expect(optimizer.stepCount == 5)
    }

    /// A 2-layer MLP built and trained from the same seed as PyTorch gives the same losses.
    @Test(arguments: [true, false])
    func mlpReproducesPyTorchLosses(fused: Bool) throws {
        let t = try fixture("mlp.safetensors")
        manualSeed(0)
        let model = Sequential(Linear(8, 32), Activation(.tanh), Linear(32, 1))
        let x = try Tensor.randn([64, 8])
        #expect(try maxAbsDiff(x, t.tensor("x")) == 0, "same seed, same inputs as torch.randn")
        let y = try (2 * x.slice(dim: 1, start: 0, end: 1)).sin()
            + x.slice(dim: 1, start: 1, end: 2) * x.slice(dim: 1, start: 2, end: 3)
        #expect(try maxAbsDiff(y, t.tensor("y")) < 1e-6)
        let optimizer = try AdamW(model, lr: 1e-2, fused: fused)
        let reference = try t.tensor("losses").doubles()
        var worst = 0.0
        for i in 0..<50 {
            optimizer.zeroGrad()
            let loss = try F.mseLoss(try model(x), y)
            try loss.backward()
            try optimizer.step()
            worst = Swift.max(worst, Swift.abs(try loss.item() - reference[i]))
        }
        #expect(worst < 1e-5, "largest loss difference \(worst)")
        #expect(reference.last! < reference.first! * 0.5, "the reference run itself learned")
    }

    @Test func optimizerStateSavesAndRestores() throws {
        manualSeed(1)
        func makeModel() -> Sequential { Sequential(Linear(3, 3), Activation(.silu), Linear(3, 1)) }
        let x = try Tensor.randn([8, 3]), y = try Tensor.randn([8, 1])
        let a = makeModel()
        let b = makeModel()
        try b.load(stateDict: Dictionary(uniqueKeysWithValues: a.stateDict()))
        let optA = try AdamW(a, lr: 0.01)
        func train(_ m: Sequential, _ o: AdamW, _ n: Int) throws {
            for _ in 0..<n {
                o.zeroGrad()
                try F.mseLoss(try m(x), y).backward()
                try o.step()
            }
        }
        try train(a, optA, 3)
        // b continues from a's saved weights and optimizer state.
        try b.load(stateDict: Dictionary(uniqueKeysWithValues: a.stateDict()))
        let optB = try AdamW(b, lr: 0.01)
        // Through a file, as a checkpoint stores it.
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("optimizer.safetensors").path
        try SafeTensors.save(optA.stateDict(), metadata: optA.hyperparameters, to: file)
        try optB.load(stateDict: try SafeTensors.load(file))
        #expect(optB.stepCount == 3)
        try train(a, optA, 2)
        try train(b, optB, 2)
        for ((k, pa), (_, pb)) in zip(a.stateDict(), b.stateDict()) {
            #expect(try maxAbsDiff(pa, pb) == 0, "\(k)")
        }
        #expect(throws: TorchError.self) {
            try optB.load(stateDict: ["nope.exp_avg": try Tensor.zeros([1])])
        }
    }

    @Test func lrSchedules() throws {
        #expect(LRSchedule.constant.multiplier(at: 123) == 1)
        let warm = LRSchedule.constantWithWarmup(warmupSteps: 10)
        #expect(warm.multiplier(at: 0) == 0 && warm.multiplier(at: 5) == 0.5 && warm.multiplier(at: 10) == 1)
        let linear = LRSchedule.linear(warmupSteps: 10, totalSteps: 110)
        #expect(linear.multiplier(at: 60) == 0.5 && linear.multiplier(at: 110) == 0 && linear.multiplier(at: 200) == 0)
        let cosine = LRSchedule.cosine(warmupSteps: 10, totalSteps: 110)
        #expect(cosine.multiplier(at: 5) == 0.5)
        #expect(Swift.abs(cosine.multiplier(at: 10) - 1) < 1e-12)
        #expect(Swift.abs(cosine.multiplier(at: 60) - 0.5) < 1e-12)
        #expect(Swift.abs(cosine.multiplier(at: 35) - 0.5 * (1 + cos(Double.pi * 0.25))) < 1e-12)
        #expect(cosine.multiplier(at: 110) < 1e-12)
        #expect(try LRSchedule(name: "cosine", warmupSteps: 10, totalSteps: 110) == cosine)
        #expect(throws: TorchError.self) { try LRSchedule(name: "exponential", warmupSteps: 0, totalSteps: 1) }
    }

    @Test func emaFollowsTheClosedForm() throws {
        let model = Linear(2, 1, bias: false)
        try withNoGrad { try model.weight.copy_(try Tensor([1, 1] as [Float], shape: [1, 2])) }
        let ema = try EMA(model, decay: 0.9)
        // Parameters jump to 2 and stay; after n updates the average is 2 − 0.9ⁿ.
        try withNoGrad { try model.weight.fill_(2) }
        for _ in 0..<3 { try ema.update() }
        let expected = 2 - Foundation.pow(0.9, 3.0)
        #expect(try ema.stateDict()["weight"]!.doubles().allSatisfy { Swift.abs($0 - expected) < 1e-6 })
        let copy = Linear(2, 1, bias: false)
        try ema.copy(to: copy)
        #expect(try maxAbsDiff(copy.weight, ema.stateDict()["weight"]!) == 0)
        #expect(throws: TorchError.self) { try EMA(model, decay: 1.5) }
        // diffusers' warm-up: the k-th update uses min(decay, k / (k + 9)).
        #expect(ema.decay(atStep: 1) == 0.1 && ema.decay(atStep: 81) == 0.9 && ema.decay(atStep: 10_000) == 0.9)
        try withNoGrad { try model.weight.fill_(0) }
        try ema.update(step: 1)
        #expect(try ema.stateDict()["weight"]!.doubles().allSatisfy { Swift.abs($0 - expected * 0.1) < 1e-6 })
    }

    @Test func clipGradNormScalesOnlyLargeGradients() throws {
        let p = try Tensor([3.0, 4.0] as [Float]).requiresGrad(true)
        try (p * p).sum().backward()  // grad = [6, 8], norm 10
        let norm = try clipGradNorm([p], maxNorm: 5)
        #expect(Swift.abs(norm - 10) < 1e-5)
        #expect(try p.grad!.floats().map { ($0 * 1000).rounded() / 1000 } == [3, 4])
        let q = try Tensor([0.3, 0.4] as [Float]).requiresGrad(true)
        try q.sum().backward()
        try clipGradNorm([q], maxNorm: 5)
        #expect(try q.grad!.floats() == [1, 1])
    }
}

@Suite("Loss scaling", .serialized)
struct GradScalerTests {
    /// Step by step as torch.amp.GradScaler: the first scale (2^126) makes float32 gradients overflow, so steps are
    /// skipped while it backs off; then it grows after every 2 good steps. Scales, skips and weights all agree.
    /// An inf in one gradient: the scaler reports the overflow, the step is skipped (the weights and AdamW's moments
    /// and step count stay bit for bit), and the scale backs off, as the trainer's optimizer step does with fp16.
    @Test func aForcedInfGradientSkipsTheStep() throws {
        let model = Sequential(Linear(3, 4), Activation(.silu), Linear(4, 1))
        let optimizer = try AdamW(model, lr: 1e-2)
        let scaler = GradScaler(initScale: 1024)
        func step(poison: Bool) throws -> Bool {
            optimizer.zeroGrad()
            try scaler.scaled(try model(try Tensor.randn([8, 3])).pow(2).mean()).backward()
            if poison { try withNoGrad { try model.parameters()[0].grad!.fill_(.infinity) } }
            let foundInf = try scaler.unscale(model.parameters())
            try optimizer.step(foundInf: foundInf)  // skipped on the device when foundInf is set
            try scaler.update(foundInf: foundInf)
            return try foundInf.item() != 0
        }
        #expect(try !step(poison: false))  // a normal step first, so AdamW has state to keep
        let weights = try model.stateDict().map { ($0.0, try $0.1.clone()) }
        let moments = try optimizer.stateDict().mapValues { try $0.clone() }
        #expect(try step(poison: true))
        #expect(try scaler.scale == 512 && scaler.state.growthTracker == 0)
        for ((name, before), (_, after)) in zip(weights, model.stateDict()) {
            #expect(try maxAbsDiff(before, after) == 0, "\(name) changed on a skipped step")
        }
        for (key, after) in optimizer.stateDict() {
            #expect(try maxAbsDiff(moments[key]!, after) == 0, "AdamW's \(key) changed on a skipped step")
        }
    }

    @Test func matchesTorchGradScaler() throws {
        manualSeed(0)
        let model = Linear(4, 3)
        let x = try Tensor.randn([8, 4]) * 100, y = try Tensor.randn([8, 3])
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs = dir.appendingPathComponent("in.safetensors"), out = dir.appendingPathComponent("out.safetensors")
        try SafeTensors.save(["weight": model.weight, "bias": model.bias!, "x": x, "y": y], to: inputs.path)
        let steps = 12
        let report = try runPython("""
            import sys, json, torch
            import torch.nn.functional as F
            from safetensors.torch import load_file, save_file
            t = load_file(sys.argv[1])
            model = torch.nn.Linear(4, 3)
            with torch.no_grad():
                model.weight.copy_(t["weight"]); model.bias.copy_(t["bias"])
            opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0)
            scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 126, growth_interval=2)
            scales, taken, weights = [], [], {}
            for i in range(int(sys.argv[3])):
                opt.zero_grad()
                scaler.scale(F.mse_loss(model(t["x"]), t["y"])).backward()
                scaler.unscale_(opt)
                scaler.step(opt)
                scaler.update()
                scales.append(scaler.get_scale())
                taken.append(int(opt.state[model.weight].get("step", torch.tensor(0.0)).item()))
                weights[f"w{i}"] = model.weight.detach().clone()
            save_file(weights, sys.argv[2])
            print(json.dumps([scales, taken]))
            """, arguments: [inputs.path, out.path, String(steps)])
        let optimizer = try AdamW(model, lr: 1e-2, weightDecay: 0)
        let scaler = GradScaler(initScale: 0x1p126, growthInterval: 2)
        let reference = try SafeTensors.load(out.path)
        var scales: [Double] = [], taken: [Int] = []
        for i in 0..<steps {
            optimizer.zeroGrad()
            try scaler.scaled(F.mseLoss(model(x), y)).backward()
            let foundInf = try scaler.unscale(model.parameters())
            try optimizer.step(foundInf: foundInf)
            try scaler.update(foundInf: foundInf)
            scales.append(try scaler.scale)
            // AdamW's own count: a step skipped on the device must take its increment back.
            taken.append(optimizer.stepCount)
            #expect(try maxAbsDiff(model.weight, reference.tensor("w\(i)")) <= 1e-6, "step \(i + 1)")
        }
        let python = try JSONDecoder().decode([[Double]].self, from: Data(report.utf8))
        #expect(scales == python[0] && taken.map(Double.init) == python[1], "scales \(scales), steps taken \(taken)")
        #expect(taken.first == 0 && zip(scales, scales.dropFirst()).contains { $1 > $0 }, "it backed off, then grew: \(scales)")
    }
}
