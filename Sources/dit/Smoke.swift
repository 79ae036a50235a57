import ArgumentParser
import Foundation
import Torch

/// `dit smoke` (`make smoke`): the engine's smoke test — a small MLP trained with AdamW from Swift, no data and no
/// model files needed. The course's demo is `make demo` (scripts/demo.sh: the shapes dataset through the whole
/// pipeline).
struct Smoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Smoke-test the engine: train a small MLP from Swift and check that its loss goes down.")

    @Option(help: "Training steps.") var steps = 300
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func run() throws {
        manualSeed(seed)
        // Learn y = sin(x0) + x1·x2 on random inputs.
        let model = Sequential(Linear(3, 64), Activation(.silu), Linear(64, 64), Activation(.silu), Linear(64, 1))
        let x = try Tensor.randn([512, 3])
        let y = try (x.slice(dim: 1, start: 0, end: 1).sin()
            + x.slice(dim: 1, start: 1, end: 2) * x.slice(dim: 1, start: 2, end: 3))
        let optimizer = try AdamW(model, lr: 3e-3, weightDecay: 0)
        print("MLP \(model.parameterCount) parameters, \(steps) steps, libtorch \(Runtime.torchVersion)")
        var first = 0.0, last = 0.0
        for step in 1...max(1, steps) {
            optimizer.zeroGrad()
            let loss = try F.mseLoss(try model(x), y)
            try loss.backward()
            try optimizer.step()
            last = try loss.item()
            if step == 1 { first = last }
            if step == 1 || step % 50 == 0 || step == steps {
                print("step \(step)  loss \(String(format: "%.5f", last))")
            }
        }
        print("loss \(String(format: "%.4f", first)) -> \(String(format: "%.4f", last))")
        if !(last < first) { throw ValidationError("the loss did not go down") }
    }
}
