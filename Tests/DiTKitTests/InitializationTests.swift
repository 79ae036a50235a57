@testable import Models
@testable import Recipe
@testable import Training
import Foundation
import TestSupport
import Testing
import Torch

@Suite("Initialization", .serialized)
struct InitializationTests {
    /// PixArt-α's initialisation: the model predicts exactly 0 at step 0, cross-attention outputs are zero, linears are
    /// Xavier-uniform (within the bound, with its standard deviation), the small embedders N(0, 0.02).
    @Test func pixartStartsAtZeroWithXavierLinears() throws {
        let source = fixturesDirectory.appendingPathComponent("models/pixart_tiny")
        let inputs = try SafeTensors.load(source.appendingPathComponent("inputs.safetensors").path)
        manualSeed(3)
        let config = try PixArtTransformer2DConfig(contentsOf: source.appendingPathComponent("model/config.json"))
        let model = try PixArtTransformer2DModel(config)
        #expect(try runPixArt(model, inputs).abs().max().item() > 0, "PyTorch's defaults predict something")
        try model.initialize(.pixart)
        #expect(try runPixArt(model, inputs).abs().max().item() == 0, "the final projection is zero")
        let params = Dictionary(model.namedParameters(), uniquingKeysWith: { a, _ in a })
        let zeroed = params.filter { $0.key.hasPrefix("proj_out.") || $0.key.contains(".attn2.to_out.0.") }
        #expect(zeroed.count >= 4)
        for (name, p) in zeroed { #expect(try p.abs().max().item() == 0, "\(name)") }
        let w = try #require(params["transformer_blocks.0.ff.net.0.proj.weight"])
        let bound = (6.0 / Double(w.size(0) + w.size(1))).squareRoot()
        #expect(try w.abs().max().item() <= bound)
        #expect(abs(try w.variance().sqrt().item() - bound / 3.0.squareRoot()) < 0.1 * bound, "uniform on ±bound")
        #expect(try params["transformer_blocks.0.ff.net.0.proj.bias"]!.abs().max().item() == 0)
        let t = try #require(params["adaln_single.linear.weight"])
        #expect(abs(try t.variance().sqrt().item() - 0.02) < 0.004)
        // The same seed gives the same weights.
        manualSeed(3)
        let again = try PixArtTransformer2DModel(config)
        try again.initialize(.pixart)
        let w2 = Dictionary(again.namedParameters(), uniquingKeysWith: { a, _ in a })["transformer_blocks.0.ff.net.0.proj.weight"]!
        #expect(try (w - w2).abs().max().item() == 0)
    }

    /// training.initialization reaches the trainer's DiT, and such a run learns.
    @Test func aPixartRunTrains() throws {
        let dir = try trainerFixture.get()
        var config = try tinyConfig(dir, name: "pixart-init", steps: 30)
        config.training.initialization = .pixart
        let trainer = try Trainer(config: config)
        #expect(try trainer.models.transformer.projOut.weight.abs().max().item() == 0)
        trainer.quiet = true
        var losses: [Double] = []
        trainer.onStep = { _, loss in losses.append(loss) }
        try trainer.train()
        let first = losses.prefix(5).reduce(0, +) / 5, last = losses.suffix(5).reduce(0, +) / 5
        #expect(last < first, "\(losses)")
        // The zeroed cross-attention output and final projection open up: they receive gradients from the first step.
        let params = Dictionary(trainer.models.transformer.namedParameters(), uniquingKeysWith: { a, _ in a })
        #expect(try params["transformer_blocks.0.attn2.to_out.0.weight"]!.abs().max().item() > 0)
        #expect(try trainer.models.transformer.projOut.weight.abs().max().item() > 0)
        let yaml = try String(contentsOf: config.run.directory.appendingPathComponent("config.yaml"), encoding: .utf8)
        #expect(yaml.contains("initialization: pixart"))
    }
}
