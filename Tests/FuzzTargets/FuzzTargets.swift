import Core
import Datasets
import Foundation
import Models
import Recipe
import Schedulers
import Tokenizers
import Torch

/// One parser a user's file reaches, as a fuzzing target: seed inputs to mutate and a function that feeds one input
/// to the parser. Throwing is the right answer to a bad file; a trap, a hang or a huge allocation is a bug.
public struct FuzzTarget: Sendable {
    public let name: String
    public let seeds: @Sendable () throws -> [[UInt8]]
    /// Parses `input`; `scratch` is an empty directory the target may use for the files the parser reads.
    public let run: @Sendable (_ input: [UInt8], _ scratch: URL) throws -> Void
}

public enum FuzzTargets {
    /// Every target, seeded from the repository's fixtures and configs (`root` is the repository root).
    public static func all(root: URL) -> [FuzzTarget] {
        let fixtures = root.appendingPathComponent("Tests/Fixtures")
        func files(_ folder: String, _ names: [String]) -> @Sendable () throws -> [[UInt8]] {
            { try names.map { try bytes(fixtures.appendingPathComponent(folder).appendingPathComponent($0)) } }
        }
        return [
            FuzzTarget(name: "safetensors", seeds: files(".", ["mlp.safetensors", "adamw.safetensors", "python_dtypes.safetensors"])) {
                input, scratch in
                let file = scratch.appendingPathComponent("x.safetensors")
                try Data(input).write(to: file)
                for (_, t) in try SafeTensors.load(file.path) { _ = try t.sum().to(.float64).item() }
            },
            FuzzTarget(name: "tokenizer", seeds: files("tokenizers", ["bpe_clip.json", "wordpiece.json", "wordlevel.json"])) {
                input, _ in
                let tokenizer = try Tokenizer(json: Data(input))
                _ = try tokenizer.encode("A red circle, naïve café 你好 <|endoftext|> [CLS]", maxLength: 16)
                _ = try tokenizer.encode("")
            },
            FuzzTarget(name: "model-config", seeds: {
                try ["models/pixart_tiny/model/config.json", "models/dit_tiny/model/config.json", "models/vae_tiny/model/config.json",
                     "models/clip_text_tiny/model/config.json", "models/bert_tiny/model/config.json",
                     "schedulers/dpm_default/scheduler_config.json"].map { try bytes(fixtures.appendingPathComponent($0)) }
            }) { input, scratch in
                let file = scratch.appendingPathComponent("config.json")
                try Data(input).write(to: file)
                // Every reader on the same bytes (a mutation may keep another model's class name); accepted when one is.
                let readers: [(URL) throws -> Any] = [
                    PixArtTransformer2DConfig.load, DiTTransformer2DConfig.load, AutoencoderKLConfig.load,
                    CLIPTextConfig.load, BertConfig.load, DDPMFamilyConfig.load, DPMSolverMultistepSchedulerConfig.load,
                    FlowMatchEulerDiscreteSchedulerConfig.load,
                ]
                var lastError: Error?, accepted = false
                for read in readers {
                    do { _ = try read(file); accepted = true } catch { lastError = error }
                }
                if !accepted, let lastError { throw lastError }
            },
            // Every model class built from a mutated config.json and run on a tiny input, as `dit forward` would.
            modelTarget("build-pixart", seeds: files("models", [
                "pixart_tiny/model/config.json", "pixart_pixel/model/config.json", "pixart_conditions/model/config.json",
            ])) { file in
                let c = try PixArtTransformer2DConfig.load(file)
                guard c.allocatedElements <= buildBudget else { return nil }
                let side = c.patchSize * min(2, c.sampleSize / c.patchSize)
                var inputs = ["hidden_states": try Tensor.randn([1, c.inChannels, side, side]),
                              "timestep": try Tensor([Int64(7)])]
                if let width = c.captionChannels ?? c.crossAttentionDim {
                    inputs["encoder_hidden_states"] = try Tensor.randn([1, 3, width])
                    inputs["encoder_attention_mask"] = try Tensor([Int64(1), 1, 0]).reshaped(1, 3)
                }
                if c.resolvedUseAdditionalConditions {
                    inputs["resolution"] = try Tensor([Float(32), 32]).reshaped(1, 2)
                    inputs["aspect_ratio"] = try Tensor([Float(1)]).reshaped(1, 1)
                }
                return (.transformer(try PixArtTransformer2DModel(c)), inputs)
            },
            modelTarget("build-dit", seeds: files("models", [
                "dit_tiny/model/config.json", "dit_learned_sigma/model/config.json",
            ])) { file in
                let c = try DiTTransformer2DConfig.load(file)
                guard c.allocatedElements <= buildBudget else { return nil }
                let side = c.patchSize * min(2, c.sampleSize / c.patchSize)
                return (.dit(try DiTTransformer2DModel(c)),
                        ["hidden_states": try Tensor.randn([1, c.inChannels, side, side]),
                         "timestep": try Tensor([Int64(7)]), "class_labels": try Tensor([Int64(0)])])
            },
            modelTarget("build-vae", seeds: files("models", [
                "vae_tiny/model/config.json", "vae_variant/model/config.json",
            ])) { file in
                let c = try AutoencoderKLConfig.load(file)
                // Each block but the last halves the image: deeper VAEs need inputs too large for the fuzz bound.
                guard c.allocatedElements <= buildBudget, c.blockOutChannels.count <= 6 else { return nil }
                let side = 1 << (c.blockOutChannels.count - 1)
                return (.vae(AutoencoderKL(c)), ["sample": try Tensor.rand([1, c.inChannels, side, side]) * 2 - 1])
            },
            modelTarget("build-clip-text", seeds: files("models", [
                "clip_text_tiny/model/config.json", "clip_text_legacy_eos/model/config.json",
            ])) { file in
                let c = try CLIPTextConfig(contentsOf: file)
                guard c.allocatedElements <= buildBudget else { return nil }
                let length = min(3, c.maxPositionEmbeddings)
                let ids = try Tensor((0..<length).map { Int64($0 % c.vocabSize) }).reshaped(1, length)
                return (.clipText(CLIPTextModel(c)), ["input_ids": ids, "attention_mask": try ids.onesLike()])
            },
            modelTarget("build-bert", seeds: files("models", [
                "bert_tiny/model/config.json",
            ])) { file in
                let c = try BertConfig.load(file)
                guard c.allocatedElements <= buildBudget else { return nil }
                let length = min(3, c.maxPositionEmbeddings)
                let ids = try Tensor((0..<length).map { Int64($0 % c.vocabSize) }).reshaped(1, length)
                return (.bert(BertModel(c)), ["input_ids": ids, "attention_mask": try ids.onesLike(),
                                               "token_type_ids": try ids.zerosLike()])
            },
            FuzzTarget(name: "train-yaml", seeds: {
                try ["tiny-cpu.yaml", "rtx4090-256.yaml"].map { try bytes(root.appendingPathComponent("configs/\($0)")) }
            }) { input, _ in
                _ = try TrainConfig(yaml: String(decoding: input, as: UTF8.self), source: "fuzz.yaml")
            },
            FuzzTarget(name: "metadata-jsonl", seeds: { [Array(sampleJSONL.utf8)] }) { input, scratch in
                try imageFolder(scratch, metadata: "metadata.jsonl", input)
            },
            FuzzTarget(name: "metadata-csv", seeds: { [Array(sampleCSV.utf8)] }) { input, scratch in
                try imageFolder(scratch, metadata: "metadata.csv", input)
            },
            FuzzTarget(name: "coco-captions", seeds: { [Array(sampleCOCO.utf8)] }) { input, scratch in
                let images = scratch.appendingPathComponent("images")
                try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
                try Data(try PNG.encode(RGBImage(width: 2, height: 2))).write(to: images.appendingPathComponent("a.jpg"))
                let file = scratch.appendingPathComponent("captions.json")
                try Data(input).write(to: file)
                _ = try COCOCaptions(annotations: file, images: images, limit: 1, seed: 3)
            },
            FuzzTarget(name: "png", seeds: {
                var gradient = RGBImage(width: 7, height: 5)
                for i in gradient.pixels.indices { gradient.pixels[i] = UInt8(truncatingIfNeeded: i * 37) }
                return [try PNG.encode(gradient)]
            }) { input, _ in
                _ = try PNG.decode(input)
            },
            FuzzTarget(name: "jpeg", seeds: files("images", ["camera_gray.jpg", "chelsea_progressive.jpg", "rocket_exif6.jpg"])) {
                input, _ in
                _ = try JPEG.decode(input)
            },
            FuzzTarget(name: "checkpoint", seeds: {
                [Array(#"{"config_hash":"abc","epoch":0,"grad_scaler":{"growth_tracker":2,"scale":1024},"loss":0.5,"position":24,"rng_state":"AAEC","step":3}"#.utf8)]
            }) { input, scratch in
                let dir = scratch.appendingPathComponent("step-3")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let weights = ["w": try Tensor([Float(1), 2, 3])]
                try SafeTensors.save(weights, to: dir.appendingPathComponent("model.safetensors").path)
                try SafeTensors.save(weights, to: dir.appendingPathComponent("optimizer.safetensors").path)
                try Data(input).write(to: dir.appendingPathComponent(Checkpoint.stateFile))
                _ = try Checkpoint.load(dir)
            },
            FuzzTarget(name: "cache-manifest", seeds: { [Array(sampleManifest.utf8)] }) { input, scratch in
                // A two-image pixel cache whose shards are right; the manifest is the mutated part.
                let shard: [String: Tensor] = [
                    "pixels": try Tensor.zeros([2, 3, 4, 4]), "input_ids": try Tensor.zeros([3, 4], dtype: .int64),
                    "attention_mask": try Tensor.ones([3, 4], dtype: .int64),
                    "caption_counts": try Tensor([Int64(1), 2]),
                ]
                try SafeTensors.save(shard, to: scratch.appendingPathComponent("shard-00000.safetensors").path)
                try SafeTensors.save(["input_ids": try Tensor.zeros([1, 4], dtype: .int64),
                                      "attention_mask": try Tensor.ones([1, 4], dtype: .int64)],
                                     to: scratch.appendingPathComponent("empty_caption.safetensors").path)
                try CaptionVocabulary.tokenizerJSON(captions: ["a red circle"])
                    .write(to: scratch.appendingPathComponent("tokenizer.json"), atomically: false, encoding: .utf8)
                try Data(input).write(to: scratch.appendingPathComponent("manifest.json"))
                let cache = try CachedDataset(directory: scratch)
                _ = try cache.batch(try Tensor(Array(0..<Int64(cache.count))), device: .cpu)
            },
        ]
    }

    /// Parameter and buffer elements a model-construction target builds at most (16 MiB of float32). A config that
    /// passes its checks but asks for more (DiTKit allows up to `ModelBudget.maxElements`) would break the fuzz memory
    /// bound: its estimate is checked, and the model is not built.
    static let buildBudget = Double(4 << 20)

    /// A target that reads a mutated `config.json`, builds the model it describes and runs it on a tiny input;
    /// `build` returns nil for a config it accepts but will not build (over `buildBudget`).
    static func modelTarget(_ name: String, seeds: @escaping @Sendable () throws -> [[UInt8]],
                            build: @escaping @Sendable (URL) throws -> (AnyModel, [String: Tensor])?) -> FuzzTarget {
        FuzzTarget(name: name, seeds: seeds) { input, scratch in
            let file = scratch.appendingPathComponent("config.json")
            try Data(input).write(to: file)
            guard let (model, inputs) = try build(file) else { return }
            _ = try model.forward(inputs)
        }
    }

    static let sampleManifest = #"""
        {"caption_count": 3, "count": 2, "crops": 0, "flip": false, "image_size": 4, "kind": "pixels", "max_length": 4,
         "sample_shape": [3, 4, 4], "shards": ["shard-00000.safetensors"], "skipped": [], "skipped_by_reason": {},
         "source": "fuzz", "truncated_captions": 0, "version": 2, "views": 1}
        """#

    static func bytes(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }

    static func imageFolder(_ scratch: URL, metadata: String, _ input: [UInt8]) throws {
        try Data(try PNG.encode(RGBImage(width: 3, height: 2))).write(to: scratch.appendingPathComponent("a.png"))
        try Data(input).write(to: scratch.appendingPathComponent(metadata))
        _ = try ImageFolder(directory: scratch)
    }

    static let sampleJSONL = """
        {"file_name": "a.png", "text": "a red circle"}
        {"file_name": "a.png", "text": ["two", "captions \\u00e9"]}
        {"file_name": "missing.png", "text": "gone"}

        """
    static let sampleCSV = "file_name,text\na.png,\"a red, circle\"\na.png,\"say \"\"hi\"\"\"\n"
    static let sampleCOCO = """
        {"images": [{"id": 1, "file_name": "a.jpg", "width": 2, "height": 2}, {"id": 2, "file_name": "b.jpg"}],
         "annotations": [{"id": 5, "image_id": 1, "caption": " A cat. "}, {"id": 6, "image_id": 2, "caption": "x"}]}
        """
}
