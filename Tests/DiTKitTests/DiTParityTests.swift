@testable import Core
@testable import Models
import Foundation
import TestSupport
import Testing
import Torch

/// Runs a class-conditional DiT on a case's inputs (named as diffusers' forward arguments).
func runDiT(_ model: DiTTransformer2DModel, _ inputs: [String: Tensor]) throws -> Tensor {
    try withNoGrad {
        try model(inputs.tensor("hidden_states"), timestep: inputs.tensor("timestep"),
                  classLabels: inputs.tensor("class_labels"))
    }
}

@Suite("DiTTransformer2DModel vs diffusers (DiTParity)", .serialized)
struct DiTParityTests {
    /// Fixtures from python/make_dit_fixtures.py (diffusers 0.42.1).
    @Test(arguments: ["dit_tiny", "dit_learned_sigma"])
    func matchesDiffusers(_ name: String) throws {
        let (dir, inputs, outputs) = try fixtureCase(name)
        let model = try DiTTransformer2DModel.load(from: dir.appendingPathComponent("model"))
        try expectClose(try runDiT(model, inputs), outputs["output"], "\(name) sample")
    }

    @Test func saveLoadRoundTripAndDiffusersReadsOurDirectory() throws {
        let (source, inputs, outputs) = try fixtureCase("dit_learned_sigma")
        let model = try DiTTransformer2DModel.load(from: source.appendingPathComponent("model"))
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        let reloaded = try DiTTransformer2DModel.load(from: dir)
        #expect(reloaded.config == model.config)
        #expect(try maxAbsDiff(try runDiT(model, inputs), try runDiT(reloaded, inputs)) == 0,
                "save → load reproduces outputs exactly")
        let python = try pythonReference(
            module: "diffusers", cls: "DiTTransformer2DModel", dir: dir,
            inputs: source.appendingPathComponent("inputs.safetensors"),
            call: #"{"output": model(x["hidden_states"], timestep=x["timestep"], class_labels=x["class_labels"], return_dict=False)[0]}"#)
        #expect(python.badKeys == 0, "diffusers reports missing/unexpected/mismatched keys")
        try expectClose(try #require(python.outputs["output"]), outputs["output"], "diffusers on our directory")
    }

    /// adaLN-Zero: a new model's modulations and final layer are zero, so every block is the identity and the
    /// prediction is exactly 0.
    @Test func aNewModelStartsAsTheIdentity() throws {
        manualSeed(3)
        let model = try DiTTransformer2DModel(DiTTransformer2DConfig(
            numAttentionHeads: 2, attentionHeadDim: 4, inChannels: 4, numLayers: 2, sampleSize: 8, numEmbedsAdaNorm: 5))
        model.eval()
        let x = try Tensor.randn([2, 4, 8, 8])
        let block = model.transformerBlocks[1]
        let tokens = try Tensor.randn([2, 16, 8])
        let t = try Tensor([10.0, 500.0], shape: [2]), y = try Tensor([Int64(1), 5], shape: [2])
        let (blockOut, prediction) = try withNoGrad {
            (try block(tokens, timestep: t, classLabels: y), try model(x, timestep: t, classLabels: y))
        }
        #expect(try maxAbsDiff(blockOut, tokens) == 0)
        #expect(try prediction.abs().max().item() == 0.0)
    }

    /// Training mode drops labels to the null class (classifier-free guidance), the same way for every block: each
    /// row of a batch of copies is either the conditional or the unconditional eval prediction, and both occur.
    @Test func trainingDropsLabelsToTheNullClass() throws {
        let (dir, inputs, _) = try fixtureCase("dit_tiny")
        let model = try DiTTransformer2DModel.load(from: dir.appendingPathComponent("model"))
        let n = 64, null = Int64(model.config.numEmbedsAdaNorm!)
        let x = try inputs.tensor("hidden_states").slice(dim: 0, start: 0, end: 1).expanded([n, 4, 8, 8]).contiguous()
        let t = try Tensor([Double](repeating: 250, count: n), shape: [n])
        let (conditional, unconditional) = try withNoGrad {
            (try model(x, timestep: t, classLabels: try Tensor([Int64](repeating: 3, count: n), shape: [n])),
             try model(x, timestep: t, classLabels: try Tensor([Int64](repeating: null, count: n), shape: [n])))
        }
        manualSeed(7)
        model.train()
        let trained = try withNoGrad { try model(x, timestep: t, classLabels: try Tensor([Int64](repeating: 3, count: n), shape: [n])) }
        var dropped = 0
        for i in 0..<n {
            let row = try trained.select(dim: 0, index: i)
            let dc = try maxAbsDiff(row, conditional.select(dim: 0, index: i))
            let du = try maxAbsDiff(row, unconditional.select(dim: 0, index: i))
            #expect(dc < 1e-6 || du < 1e-6, "row \(i) is neither the conditional nor the null-class prediction")
            if du < 1e-6 { dropped += 1 }
        }
        #expect(dropped > 0 && dropped < n / 2, "dropped \(dropped) of \(n) labels (p = 0.1)")
    }

    @Test func configAndInputErrorsNameTheProblem() throws {
        let file = fixturesDirectory.appendingPathComponent("models/dit_tiny/model/config.json")
        func attempt(_ edit: (inout JSONObject) -> Void) throws -> String {
            try configError(DiTTransformer2DConfig.self, editing: file, edit)
        }
        #expect(try attempt { _ in } == "no error")
        #expect(try attempt { $0["num_layers"] = nil }.contains("num_layers: missing"))
        #expect(try attempt { $0["num_layers"] = .integer(0) }.contains("num_layers: must be in 1...4096, found 0"))
        #expect(try attempt { $0["norm_type"] = .string("ada_norm_single") }.contains("norm_type: 'ada_norm_single' is not supported"))
        #expect(try attempt { $0["num_embeds_ada_norm"] = .null }.contains("num_embeds_ada_norm: must not be null"))
        #expect(try attempt { $0["activation_fn"] = .string("swish") }.contains("activation_fn: 'swish' is not supported"))
        #expect(try attempt { $0["sample_size"] = .integer(9) }.contains("sample_size: 9 is not a multiple of patch_size 2"))
        #expect(try attempt { $0["_class_name"] = .string("PixArtTransformer2DModel") }.contains("_class_name"))

        let (dir, inputs, _) = try fixtureCase("dit_tiny")
        let model = try DiTTransformer2DModel.load(from: dir.appendingPathComponent("model"))
        let t = try inputs.tensor("timestep"), y = try inputs.tensor("class_labels")
        #expect(throws: ModelError.self) { try model(try Tensor.randn([2, 4, 8, 12]), timestep: t, classLabels: y) }
        #expect(throws: ModelError.self) { try model(try Tensor.randn([2, 3, 8, 8]), timestep: t, classLabels: y) }
        #expect(throws: ModelError.self) { try model(try inputs.tensor("hidden_states"), timestep: t, classLabels: y.to(.float32)) }
    }
}
