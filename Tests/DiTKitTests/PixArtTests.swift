@testable import Core
@testable import Models
import Foundation
import TestSupport
import Testing
import Torch

/// Runs a PixArt model on a case's inputs (named as diffusers' forward arguments).
func runPixArt(_ model: PixArtTransformer2DModel, _ inputs: [String: Tensor]) throws -> Tensor {
    try withNoGrad {
        try model(inputs["hidden_states"]!, encoderHiddenStates: inputs["encoder_hidden_states"],
                  timestep: inputs["timestep"]!, encoderAttentionMask: inputs["encoder_attention_mask"],
                  resolution: inputs["resolution"], aspectRatio: inputs["aspect_ratio"])
    }
}

/// Asks diffusers to load `modelDir` and run it on `inputsFile`; returns its output and the load report.
func diffusersForward(modelDir: URL, inputsFile: URL) throws -> (output: Tensor, missing: Int, unexpected: Int) {
    let dir = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let out = dir.appendingPathComponent("out.safetensors")
    let report = try runPython("""
        import sys, torch
        from diffusers import PixArtTransformer2DModel
        from safetensors.torch import load_file, save_file
        model, info = PixArtTransformer2DModel.from_pretrained(sys.argv[1], output_loading_info=True)
        x = load_file(sys.argv[2])
        added = {"resolution": x["resolution"], "aspect_ratio": x["aspect_ratio"]} if "resolution" in x else None
        with torch.no_grad():
            y = model.eval()(x["hidden_states"], encoder_hidden_states=x.get("encoder_hidden_states"),
                timestep=x["timestep"], encoder_attention_mask=x.get("encoder_attention_mask"), added_cond_kwargs=added).sample
        save_file({"output": y.contiguous()}, sys.argv[3])
        print(len(info["missing_keys"]), len(info["unexpected_keys"]) + len(info["mismatched_keys"]))
        """, arguments: [modelDir.path, inputsFile.path, out.path])
    let counts = report.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
    return (try SafeTensors.load(out.path)["output"]!, counts.first ?? -1, counts.last ?? -1)
}

@Suite("PixArtTransformer2DModel vs diffusers", .serialized)
struct PixArtTests {
    static let committedCases = ["pixart_tiny", "pixart_pixel", "pixart_conditions"]

    @Test(arguments: committedCases)
    func matchesDiffusersOnCommittedFixtures(_ name: String) throws {
        let dir = fixturesDirectory.appendingPathComponent("models/\(name)")
        let model = try PixArtTransformer2DModel.load(from: dir.appendingPathComponent("model"))
        let inputs = try SafeTensors.load(dir.appendingPathComponent("inputs.safetensors").path)
        let expected = try SafeTensors.load(dir.appendingPathComponent("outputs.safetensors").path)["output"]!
        let d = try maxAbsDiff(try runPixArt(model, inputs), expected)
        #expect(d <= 1e-5, "\(name): max abs diff \(d)")
    }

    /// The seed's configuration (6 heads × 64, 8 layers, patch 2, 4 channels, 32×32), written by diffusers now.
    @Test func matchesDiffusersAtTheSeedsScale() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try runPython("import runpy, sys; out, script = sys.argv[1], sys.argv[2]; "
            + "sys.argv = [script, '--case', 'pixart_seed', '--out', out]; runpy.run_path(script, run_name='__main__')",
            arguments: [dir.path, packageRoot.appendingPathComponent("python/make_model_fixtures.py").path])
        let model = try PixArtTransformer2DModel.load(from: dir.appendingPathComponent("model"))
        #expect(model.config.innerDim == 384 && model.transformerBlocks.count == 8)
        let inputs = try SafeTensors.load(dir.appendingPathComponent("inputs.safetensors").path)
        let expected = try SafeTensors.load(dir.appendingPathComponent("outputs.safetensors").path)["output"]!
        let d = try maxAbsDiff(try runPixArt(model, inputs), expected)
        #expect(d <= 1e-5, "max abs diff \(d)")
    }

    @Test func saveLoadRoundTripAndDiffusersReadsOurDirectory() throws {
        let source = fixturesDirectory.appendingPathComponent("models/pixart_tiny")
        let inputsFile = source.appendingPathComponent("inputs.safetensors")
        let inputs = try SafeTensors.load(inputsFile.path)
        // A model of our own (random init), saved by us.
        manualSeed(5)
        let config = try PixArtTransformer2DConfig(contentsOf: source.appendingPathComponent("model/config.json"))
        let model = try PixArtTransformer2DModel(config)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        let reloaded = try PixArtTransformer2DModel.load(from: dir)
        let ours = try runPixArt(model, inputs)
        #expect(try maxAbsDiff(ours, try runPixArt(reloaded, inputs)) == 0, "save → load reproduces outputs exactly")
        let python = try diffusersForward(modelDir: dir, inputsFile: inputsFile)
        #expect(python.missing == 0 && python.unexpected == 0, "diffusers reports missing/unexpected keys")
        #expect(try maxAbsDiff(ours, python.output) <= 1e-5)
    }

    @Test func configErrorsNameTheKey() throws {
        let good = fixturesDirectory.appendingPathComponent("models/pixart_tiny/model/config.json")
        func attempt(_ edit: (inout JSONObject) -> Void) throws -> String {
            try configError(PixArtTransformer2DConfig.self, editing: good, edit)
        }
        #expect(try attempt { $0["num_layers"] = nil }.contains("num_layers: missing"))
        #expect(try attempt { $0["patch_size"] = .string("2") }.contains("patch_size: expected an integer, found the string \"2\""))
        #expect(try attempt { $0["norm_type"] = .string("ada_norm_zero") }.contains("norm_type: 'ada_norm_zero' is not supported"))
        #expect(try attempt { $0["activation_fn"] = .string("swish") }.contains("activation_fn"))
        #expect(try attempt { $0["sample_size"] = .integer(9) }.contains("sample_size: 9 is not a multiple of patch_size 2"))
        #expect(try attempt { $0["attention_bias"] = .integer(1) }.contains("attention_bias: expected true or false"))
        #expect(try attempt { $0["_class_name"] = .string("UNet2DModel") }.contains("_class_name"))
        // A file that is not JSON at all.
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("{\"num_layers\": 2,".utf8).write(to: dir.appendingPathComponent("config.json"))
        #expect(throws: ConfigError.self) { try PixArtTransformer2DModel.load(from: dir) }
    }

    @Test func weightErrorsListTheTensors() throws {
        let source = fixturesDirectory.appendingPathComponent("models/pixart_tiny/model")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"),
                                         to: dir.appendingPathComponent("config.json"))
        var weights = try SafeTensors.load(source.appendingPathComponent(PixArtTransformer2DModel.weightsName).path)
        weights["proj_out.bias"] = nil
        weights["transformer_blocks.0.attn9.to_q.weight"] = try Tensor.zeros([2])
        weights["caption_projection.linear_1.weight"] = try Tensor.zeros([16, 13])
        try SafeTensors.save(weights, to: dir.appendingPathComponent(PixArtTransformer2DModel.weightsName).path)
        do {
            _ = try PixArtTransformer2DModel.load(from: dir)
            Issue.record("loading mismatched weights must fail")
        } catch {
            let message = "\(error)"
            #expect(message.contains("missing keys: proj_out.bias"), "\(message)")
            #expect(message.contains("unexpected keys: transformer_blocks.0.attn9.to_q.weight"), "\(message)")
            #expect(message.contains("caption_projection.linear_1.weight (expected [16, 12], found [16, 13])"), "\(message)")
        }
        // No weights file at all.
        try FileManager.default.removeItem(at: dir.appendingPathComponent(PixArtTransformer2DModel.weightsName))
        #expect(throws: ConfigError.self) { try PixArtTransformer2DModel.load(from: dir) }
    }

    @Test func badInputsAreErrors() throws {
        let model = try PixArtTransformer2DModel.load(from: fixturesDirectory.appendingPathComponent("models/pixart_tiny/model"))
        let caption = try Tensor.randn([1, 3, 12])
        #expect(throws: ModelError.self) {
            try model(try Tensor.randn([1, 3, 8, 8]), encoderHiddenStates: caption, timestep: try Tensor([1], shape: [1]))
        }
        #expect(throws: ModelError.self) {
            try model(try Tensor.randn([1, 4, 7, 8]), encoderHiddenStates: caption, timestep: try Tensor([1], shape: [1]))
        }
        #expect(throws: ModelError.self) {
            try model(try Tensor.randn([1, 4, 8, 8]), encoderHiddenStates: nil, timestep: try Tensor([1], shape: [1]))
        }
    }
}

@Suite("Attention masks", .serialized)
struct AttentionMaskTests {
    /// A boolean keep-mask and the equivalent −10000 bias give the same attention.
    @Test func boolAndAdditiveMasksAgree() throws {
        manualSeed(1)
        let attn = Attention(queryDim: 8, crossAttentionDim: 6, heads: 2, dimHead: 4, bias: true)
        let x = try Tensor.randn([2, 5, 8]), ctx = try Tensor.randn([2, 4, 6])
        let keep = try Tensor([true, true, false, false, true, true, true, false], shape: [2, 1, 4])
        let bias = try (1 - keep.to(.float32)) * -10000.0
        let a = try withNoGrad { try attn(x, context: ctx, mask: keep) }
        let b = try withNoGrad { try attn(x, context: ctx, mask: bias) }
        #expect(try maxAbsDiff(a, b) < 1e-5)
        let unmasked = try withNoGrad { try attn(x, context: ctx) }
        #expect(try maxAbsDiff(a, unmasked) > 1e-3, "the mask has an effect")
    }
}
