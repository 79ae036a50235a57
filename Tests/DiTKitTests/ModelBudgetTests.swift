@testable import Core
@testable import Models
import Foundation
import TestSupport
import Testing
import Torch

/// Every size a config.json turns into an allocation is bounded before anything is allocated: each config's
/// `allocatedElements` is an upper bound of what the model really holds, and a config over `ModelBudget` is an
/// error that names the keys, where it used to stop the process inside libtorch's allocator.
@Suite("Model sizes are checked before allocation", .serialized)
struct ModelBudgetTests {
    /// Parameter and buffer elements a built model holds.
    static func elements(_ model: Module) -> Double {
        model.stateDict().reduce(0) { $0 + Double($1.1.count) }
    }

    static func fixtureConfig(_ name: String) -> URL {
        fixturesDirectory.appendingPathComponent("models/\(name)/model/config.json")
    }

    /// The estimate is an upper bound, and not a loose one (within 2×), for every fixture and for the seed's real
    /// sizes (the rtx4090-256 DiT, the SD VAE's widths).
    @Test func estimatesBoundTheRealCounts() throws {
        var pixart = try PixArtTransformer2DConfig.load(Self.fixtureConfig("pixart_tiny"))
        var seedDiT = pixart
        (seedDiT.numAttentionHeads, seedDiT.attentionHeadDim, seedDiT.numLayers) = (6, 64, 8)
        (seedDiT.sampleSize, seedDiT.captionChannels, seedDiT.crossAttentionDim) = (32, 384, 384)
        var sdVAE = try AutoencoderKLConfig.load(Self.fixtureConfig("vae_tiny"))
        (sdVAE.blockOutChannels, sdVAE.layersPerBlock, sdVAE.normNumGroups) = ([128, 256, 512, 512], 2, 32)
        sdVAE.downBlockTypes = Array(repeating: "DownEncoderBlock2D", count: 4)
        sdVAE.upBlockTypes = Array(repeating: "UpDecoderBlock2D", count: 4)
        var cases: [(String, Double, Module)] = []
        for name in ["pixart_tiny", "pixart_pixel", "pixart_conditions"] {
            pixart = try PixArtTransformer2DConfig.load(Self.fixtureConfig(name))
            cases.append((name, pixart.allocatedElements, try PixArtTransformer2DModel(pixart)))
        }
        cases.append(("rtx4090-256 DiT", seedDiT.allocatedElements, try PixArtTransformer2DModel(seedDiT)))
        for name in ["dit_tiny", "dit_learned_sigma"] {
            let c = try DiTTransformer2DConfig.load(Self.fixtureConfig(name))
            cases.append((name, c.allocatedElements, try DiTTransformer2DModel(c)))
        }
        for name in ["vae_tiny", "vae_variant"] {
            let c = try AutoencoderKLConfig.load(Self.fixtureConfig(name))
            cases.append((name, c.allocatedElements, AutoencoderKL(c)))
        }
        cases.append(("SD VAE widths", sdVAE.allocatedElements, AutoencoderKL(sdVAE)))
        for name in ["clip_text_tiny", "clip_text_legacy_eos"] {
            let c = try CLIPTextConfig(contentsOf: Self.fixtureConfig(name))
            cases.append((name, c.allocatedElements, CLIPTextModel(c)))
        }
        let bert = try BertConfig.load(Self.fixtureConfig("bert_tiny"))
        cases.append(("bert_tiny", bert.allocatedElements, BertModel(bert)))
        for (name, estimate, model) in cases {
            let real = Self.elements(model)
            #expect(estimate >= real && estimate <= 2 * real, "\(name): estimate \(estimate), real \(real)")
        }
    }

    /// A hand-edited VAE with an absurd width: every problem in one error, naming the keys, before any allocation.
    @Test func anAbsurdConfigIsAnErrorNamingTheKeys() throws {
        let vae = Self.fixtureConfig("vae_tiny")
        let wide = try configError(AutoencoderKLConfig.self, editing: vae) {
            $0["block_out_channels"] = .array([.integer(60_000), .integer(60_000)])
            $0["norm_num_groups"] = .integer(8)
        }
        #expect(wide.contains("over DiTKit's limit") && wide.contains("block_out_channels"), "\(wide)")
        let several = try configError(AutoencoderKLConfig.self, editing: vae) {
            $0["block_out_channels"] = .array([.integer(1 << 20), .integer(16)])
            $0["act_fn"] = .string("gelu")
            $0["layers_per_block"] = .integer(0)
        }
        #expect(several.contains("3 problems") && several.contains("block_out_channels: every width must be in 1...65536")
                && several.contains("act_fn: 'gelu' is not supported") && several.contains("layers_per_block: must be in"),
                "\(several)")
        let layers = try configError(PixArtTransformer2DConfig.self, editing: Self.fixtureConfig("pixart_tiny")) {
            $0["num_layers"] = .integer(4096)
            $0["attention_head_dim"] = .integer(4096)
        }
        #expect(layers.contains("over DiTKit's limit") && layers.contains("num_layers"), "\(layers)")
    }

    /// `dit forward` on such a directory exits with the config error, not a signal from inside the allocator.
    @Test func ditForwardReportsIt() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("vae")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        var config = try jsonObject(Self.fixtureConfig("vae_tiny"))
        config["block_out_channels"] = .array([.integer(1_000_000), .integer(16)])
        try JSONValue.object(config).serialized().write(to: model.appendingPathComponent("config.json"), atomically: true,
                                                       encoding: .utf8)
        let inputs = dir.appendingPathComponent("in.safetensors")
        try SafeTensors.save(["sample": try Tensor.zeros([1, 3, 16, 16])], to: inputs.path)
        let run = try runProcess(ditBinary(), ["forward", model.path, "--inputs", inputs.path,
                                               "--output", dir.appendingPathComponent("out.safetensors").path])
        #expect(run.reason == .exit && run.status == 1, "\(run.output)")
        #expect(run.output.contains("config.json") && run.output.contains("block_out_channels"), "\(run.output)")
    }
}
