@testable import Datasets
@testable import Inference
@testable import Models
@testable import Prepare
@testable import Recipe
@testable import Training
import Foundation
import TestSupport
import Testing
import Torch

/// Tools that show what a trained model does (issue 21): guidance grids, denoising trajectories.
@Suite("See what the model learned", .serialized)
struct ExplainTests {
    /// `--cfg-scale 1,3`: one row per scale, every row from the same noise, so the scale-1 row is exactly what
    /// `--cfg-scale 1` draws alone, and guidance changes the images.
    @Test func aListOfScalesIsAGridOfScalesBySeeds() throws {
        let (config, _) = try trainedRun("cfg-grid")
        let out = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        func generate(_ scales: String, _ name: String) throws -> String {
            let r = try runDit(["generate", "--checkpoint", config.run.directory.path, "a red circle", "--steps", "3",
                                "--cfg-scale", scales, "--num-images", "2", "--output", out.appendingPathComponent("\(name).png").path,
                                "--output-dir", out.appendingPathComponent(name).path])
            #expect(r.status == 0, "\(r.output)")
            return r.output
        }
        let listOutput = try generate("1,3", "list")
        #expect(listOutput.contains("2 rows: each prompt at guidance 1.0,3.0"), "\(listOutput)")
        _ = try generate("1", "one")
        let image = { (name: String, i: Int) in try PNG.read(out.appendingPathComponent(name).appendingPathComponent(String(format: "%03d.png", i))) }
        for i in 0..<2 { #expect(try image("list", i).pixels == image("one", i).pixels, "image \(i) at scale 1") }
        #expect(try image("list", 2).pixels != image("list", 0).pixels, "guidance 3 changes the first seed's image")
        let grid = try PNG.read(out.appendingPathComponent("list.png")), single = try PNG.read(out.appendingPathComponent("one.png"))
        #expect(grid.width == single.width && grid.height > single.height * 3 / 2, "\(grid.width)×\(grid.height) vs \(single.width)×\(single.height)")
        // dit eval takes one scale and says why.
        let eval = try runDit(["eval", "--checkpoint", config.run.directory.path, "--cfg-scale", "1,3", "--steps", "2"])
        #expect(eval.status != 0 && eval.output.contains("takes one --cfg-scale"), "\(eval.output)")
        let bad = try runDit(["generate", "--checkpoint", config.run.directory.path, "x", "--cfg-scale", "1,,3"])
        #expect(bad.status != 0 && bad.output.contains("--cfg-scale"), "\(bad.output)")
        // --output-dir is an imagefolder: metadata.jsonl names each image's prompt and scale (metrics.py reads it).
        let metadata = try String(contentsOf: out.appendingPathComponent("list/metadata.jsonl"), encoding: .utf8)
        #expect(metadata == (0..<4).map { #"{"file_name": "00\#($0).png", "text": "a red circle", "guidance_scale": \#($0 < 2 ? "1.0" : "3.0")}"# }
            .joined(separator: "\n") + "\n", "\(metadata)")
        // --prompt-file: a metadata.jsonl's text column (a string, or the first of a list) after the arguments.
        let prompts = out.appendingPathComponent("prompts.jsonl")
        try #"{"file_name": "a.png", "text": "a blue square"}\#n\#n{"text": ["a green cross", "x"]}\#n"#
            .write(to: prompts, atomically: true, encoding: .utf8)
        let fromFile = try runDit(["generate", "--checkpoint", config.run.directory.path, "a red circle", "--prompt-file", prompts.path,
                                   "--steps", "2", "--output", out.appendingPathComponent("f.png").path,
                                   "--output-dir", out.appendingPathComponent("f").path])
        #expect(fromFile.status == 0 && fromFile.output.contains("wrote 3 image(s)"), "\(fromFile.output)")
        let texts = try String(contentsOf: out.appendingPathComponent("f/metadata.jsonl"), encoding: .utf8)
        #expect(["a red circle", "a blue square", "a green cross"].allSatisfy { texts.contains(#""text": "\#($0)""#) }, "\(texts)")
        // COCO captions (.json, as scripts/fetch_coco_subset.py writes): each image's first caption, in image order.
        let coco = out.appendingPathComponent("captions.json")
        try #"{"images": [{"id": 9}, {"id": 4}, {"id": 5}], "annotations": [{"image_id": 4, "caption": "a blue square"}, {"image_id": 9, "caption": " a red cross "}, {"image_id": 4, "caption": "x"}]}"#
            .write(to: coco, atomically: true, encoding: .utf8)
        let fromCOCO = try runDit(["generate", "--checkpoint", config.run.directory.path, "--prompt-file", coco.path, "--steps", "1",
                                   "--output", out.appendingPathComponent("c.png").path, "--output-dir", out.appendingPathComponent("c").path])
        #expect(fromCOCO.status == 0 && fromCOCO.output.contains("wrote 2 image(s)"), "\(fromCOCO.output)")
        let cocoTexts = try String(contentsOf: out.appendingPathComponent("c/metadata.jsonl"), encoding: .utf8)
        #expect(cocoTexts.contains(#""000.png", "text": "a red cross""#) && cocoTexts.contains(#""001.png", "text": "a blue square""#), "\(cocoTexts)")
        // A .txt with Windows line ends: one prompt a line.
        let text = out.appendingPathComponent("prompts.txt")
        try "a red circle\r\n\r\na blue square\r\n".write(to: text, atomically: true, encoding: .utf8)
        let fromText = try runDit(["generate", "--checkpoint", config.run.directory.path, "--prompt-file", text.path, "--steps", "1",
                                   "--output", out.appendingPathComponent("t.png").path])
        #expect(fromText.status == 0 && fromText.output.contains("wrote 2 image(s)"), "\(fromText.output)")
        try #"{"text": 3}"#.write(to: prompts, atomically: true, encoding: .utf8)
        let wrong = try runDit(["generate", "--checkpoint", config.run.directory.path, "--prompt-file", prompts.path])
        #expect(wrong.status != 0 && wrong.output.contains("prompts.jsonl") && wrong.output.contains("line 1"), "\(wrong.output)")
    }

    /// The trajectory's last sample is the image `generate` makes with the same seed, pixel for pixel; x̂₀ moves
    /// toward it as the steps go (the first prediction is the farthest); the command draws two rows of `--steps`.
    @Test func theTrajectoryEndsAtTheGeneratedImage() throws {
        let (config, _) = try trainedRun("trajectory", steps: 6)
        let run = try TrainedRun(path: config.run.directory, useEMA: true, device: .cpu)
        let path = try run.trajectory("a red circle", steps: 5, cfgScale: 3, seed: 11)
        let generated = try run.generate(["a red circle"], steps: 5, cfgScale: 3, seed: 11)[0]
        #expect(path.samples.count == 5 && path.predictions.count == 5 && path.timesteps.count == 5)
        #expect(path.samples.last!.pixels == generated.pixels)
        let distance = { (a: RGBImage) in
            zip(a.pixels, generated.pixels).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(a.pixels.count)
        }
        let d = path.predictions.map(distance)
        #expect(d.first! > d.last! && d.last! < 8, "mean |x̂₀ − final| per step: \(d)")
        #expect(zip(path.timesteps, path.timesteps.dropFirst()).allSatisfy { $0 > $1 }, "\(path.timesteps)")

        let out = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let file = out.appendingPathComponent("t.png")
        let r = try runDit(["explain", "trajectory", "--checkpoint", config.run.directory.path, "--prompt", "a red circle",
                            "--steps", "5", "--cfg-scale", "3", "--seed", "11", "--output", file.path])
        #expect(r.status == 0 && r.output.contains("5 steps"), "\(r.output)")
        let grid = try PNG.read(file), cell = generated.width * max(1, 128 / config.data.imageSize)
        #expect(grid.width >= 5 * cell && grid.width < 6 * cell && grid.height >= 2 * cell && grid.height < 3 * cell,
                "\(grid.width)×\(grid.height) for cells of \(cell)")
    }

    /// The recorded probabilities are the softmax SDPA uses (its output unchanged by recording); each token's map sums
    /// to 1 over the token grid; the tokens are the tokenizer's; the JSON and the picture are written.
    @Test func attentionMapsAreTheModelsOwnWeights() throws {
        manualSeed(5)
        let attention = Attention(queryDim: 16, crossAttentionDim: 8, heads: 2, dimHead: 4)
        let x = try Tensor.randn([2, 6, 16]), context = try Tensor.randn([2, 3, 8])
        let mask = try Tensor([Float(0), 0, -10000, 0, 0, 0]).reshaped(2, 1, 3)
        let plain = try attention(x, context: context, mask: mask)
        let maps = CrossAttentionMaps()
        attention.recorder = maps
        let recorded = try attention(x, context: context, mask: mask)
        attention.recorder = nil
        #expect(try maxAbsDiff(plain, recorded) == 0)
        // By hand: per head softmax(q·kᵀ/√d + mask), then the mean over the heads.
        let q = try attention.toQ(x).reshaped(2, 6, 2, 4).transposed(1, 2)
        let k = try attention.toK(context).reshaped(2, 3, 2, 4).transposed(1, 2)
        let expected = try (q.matmul(k.transposed(-2, -1)) / 2 + mask.unsqueezed(1)).softmax(dim: -1).mean(dims: [1])
        #expect(try maxAbsDiff(try #require(try maps.average), expected) < 1e-6)
        #expect(try (maps.average!.sum(dims: [-1]) - 1).abs().max().item() < 1e-5)

        let (config, _) = try trainedRun("attention", steps: 4)
        let run = try TrainedRun(path: config.run.directory, useEMA: true, device: .cpu)
        let prompt = "a small red circle at the top left"
        let explained = try run.crossAttention(prompt, steps: 3, cfgScale: 3, seed: 2)
        let encoding = try run.pipeline.tokenizer.encode(prompt)
        #expect(explained.tokens == encoding.tokens, "\(explained.tokens) vs \(encoding.tokens)")
        #expect(explained.rows * explained.columns == (config.model.sampleSize / config.model.patchSize) * (config.model.sampleSize / config.model.patchSize))
        for (token, map) in zip(explained.tokens, explained.maps) {
            #expect(abs(map.reduce(0, +) - 1) < 1e-9 && map.allSatisfy { $0 >= 0 }, "\(token)")
            #expect(abs(explained.quadrants(of: explained.tokens.firstIndex(of: token)!).reduce(0, +) - 1) < 1e-9)
        }
        // The image is the one dit generate makes with the same settings, and recording leaves the model as it was.
        #expect(explained.image.pixels == (try run.generate([prompt], steps: 3, cfgScale: 3, seed: 2))[0].pixels)
        #expect(run.pipeline.transformer.transformerBlocks.allSatisfy { $0.attn2?.recorder == nil })

        let out = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try runDit(["explain", "attention", "--checkpoint", config.run.directory.path, "--prompt", prompt,
                            "--steps", "3", "--output", out.appendingPathComponent("a.png").path,
                            "--json", out.appendingPathComponent("a.json").path])
        #expect(r.status == 0 && r.output.contains("token maps"), "\(r.output)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("a.json"))) as? [String: Any]
        let tokens = try #require(json?["tokens"] as? [String])
        let grids = try #require(json?["maps"] as? [[[Double]]])
        #expect(tokens == explained.tokens && grids.count == tokens.count)
        let first: [[Double]] = try #require(grids.first)
        #expect(first.count == explained.rows && first.allSatisfy { $0.count == explained.columns })
        let total: Double = first.flatMap { $0 }.reduce(0, +)
        #expect(abs(total - 1) < 1e-4)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("a.png").path))
    }

    /// A training image finds itself at distance 0 (and its own caption); another image does not.
    @Test func aTrainingImageFindsItselfInTheCache() throws {
        let (config, _) = try trainedRun("nearest", steps: 2)
        let shapes = try trainerFixture.get().appendingPathComponent("shapes")
        let names = try FileManager.default.contentsOfDirectory(atPath: shapes.path).filter { $0.hasSuffix(".png") }.sorted()
        let metadata = try String(contentsOf: shapes.appendingPathComponent("metadata.jsonl"), encoding: .utf8)
        let run = try TrainedRun(path: config.run.directory, useEMA: true, device: .cpu)
        let picked = try #require(names.dropFirst(5).first)
        let found = try run.nearestTrainingImages(to: [try PNG.read(shapes.appendingPathComponent(picked))], k: 2)[0]
        #expect(found.matches.count == 2 && found.matches[0].distance == 0 && found.matches[1].distance > 0,
                "\(found.matches.map(\.distance))")
        let line = try #require(metadata.split(separator: "\n").first { $0.contains("\"\(picked)\"") })
        #expect(line.contains(found.matches[0].caption), "\(picked): \(found.matches[0].caption) not in \(line)")
        #expect(found.matches[0].image.pixels == found.query.pixels)

        let out = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let folder = out.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: shapes.appendingPathComponent(picked), to: folder.appendingPathComponent(picked))
        let r = try runDit(["explain", "nearest", "--checkpoint", config.run.directory.path, "--images", folder.path,
                            "--k", "2", "--output", out.appendingPathComponent("n.png").path])
        #expect(r.status == 0 && r.output.contains("\(picked): #\(found.matches[0].index) (0.000,"), "\(r.output)")
    }

    /// On a short-trained shapes model (Tests/Fixtures/runs/shapes16, 8000 steps on 16×16 images: 14 minutes on a
    /// CPU, scripts/make-shapes-run-fixture.sh), each shape word's cross-attention map puts more of its mass in the
    /// quadrant where the shape is drawn than in any other, for every shape in every corner: the maps follow the
    /// object, they are not a fixed bias of the word.
    @Test func aShapeWordLooksWhereItsShapeIsDrawn() throws {
        let run = try TrainedRun(path: fixturesDirectory.appendingPathComponent("runs/shapes16"), device: .cpu)
        let corners = ["top left", "top right", "bottom left", "bottom right"]  // the order of `quadrants(of:)`
        let colors = ["red", "green", "blue", "yellow", "purple", "orange"]
        var objectShares: [Double] = [], report: [String] = []
        for (s, shape) in ["circle", "square", "triangle", "cross"].enumerated() {
            for (c, corner) in corners.enumerated() {
                let prompt = "a large \(colors[(s + c) % colors.count]) \(shape) at the \(corner)"
                let maps = try run.crossAttention(prompt, steps: 10, cfgScale: 3, seed: 1)
                // Where the shape is drawn: the centroid of the pixels brighter than the black background.
                let image = maps.image
                var (sx, sy, n) = (0.0, 0.0, 0.0)
                for y in 0..<image.height {
                    for x in 0..<image.width where max(image[x, y].0, image[x, y].1, image[x, y].2) > 64 {
                        (sx, sy, n) = (sx + Double(x), sy + Double(y), n + 1)
                    }
                }
                try #require(n > 0, "\(prompt): nothing drawn")
                let drawn = (sy / n < Double(image.height) / 2 ? 0 : 2) + (sx / n < Double(image.width) / 2 ? 0 : 1)
                #expect(drawn == c, "\(prompt): drawn in the \(corners[drawn]) quadrant")
                let token = try #require(maps.tokens.firstIndex { $0.hasPrefix(shape) }, "\(maps.tokens)")
                let shares = maps.quadrants(of: token)
                objectShares.append(shares[drawn])
                report.append("\(prompt): " + shares.map { String(format: "%.2f", $0) }.joined(separator: " "))
                #expect(shares[drawn] == shares.max()!, "\(prompt): the \(shape) map by quadrant \(shares)")
            }
        }
        print(report.joined(separator: "\n"))
        let mean = objectShares.reduce(0, +) / Double(objectShares.count)
        #expect(mean > 0.3, "mean share in the object's quadrant \(mean) (uniform: 0.25)")
    }

    /// The latent statistics are the exact moments of z = mean + σ·ε over the data: they equal a direct computation
    /// from each image's own encoding (one at a time, element by element), and posterior samples drawn many times
    /// land on them.
    @Test func latentStatisticsAreTheDataMoments() throws {
        let vae = try AutoencoderKL.load(from: fixturesDirectory.appendingPathComponent("models/vae_tiny/model"))
        let names = ["astronaut.jpg", "coffee_444.jpg", "chelsea_progressive.jpg", "rocket_exif6.jpg", "camera_gray.jpg"]
        let inputs = try names.map {
            try ImageTransform.resizedAndCropped(try RGBImage(contentsOf: fixturesDirectory.appendingPathComponent("images/\($0)")), to: 32)
        }
        let encoded = try vae.reconstruct(inputs, batchSize: 2)
        let stats = try LatentStatistics(means: encoded.means, logvars: encoded.logvars)
        let channels = vae.config.latentChannels
        var sum = [Double](repeating: 0, count: channels), square = sum, n = 0
        for x in inputs {
            let posterior = try withNoGrad { try vae.encode(x.unsqueezed(0)) }
            let m = try posterior.mean.toArray(Float.self), lv = try posterior.logvar.toArray(Float.self)
            let plane = m.count / channels
            n += plane
            for i in m.indices {
                let (c, mu) = (i / plane, Double(m[i]))
                sum[c] += mu
                square[c] += mu * mu + exp(Double(lv[i]))
            }
        }
        for c in 0..<channels {
            let mean = sum[c] / Double(n), std = (square[c] / Double(n) - mean * mean).squareRoot()
            #expect(abs(stats.channelMean[c] - mean) <= 1e-5 * max(1, abs(mean)), "channel \(c) mean")
            #expect(abs(stats.channelStd[c] - std) <= 1e-5 * max(1, std), "channel \(c) std \(stats.channelStd[c]) vs \(std)")
        }
        let mean = sum.reduce(0, +) / Double(n * channels)
        let std = (square.reduce(0, +) / Double(n * channels) - mean * mean).squareRoot()
        #expect(abs(stats.mean - mean) <= 1e-5 && abs(stats.std - std) <= 1e-5 * std)
        #expect(abs(stats.impliedScalingFactor - 1 / std) <= 1e-5 / std)
        // 400 posterior draws per latent: their std is the analytic one within sampling error.
        let posterior = try DiagonalGaussianDistribution(moments: try Tensor.cat([encoded.means, encoded.logvars], dim: 1))
        let g = try Generator(seed: 3)
        let draws = try Tensor.stack(try (0..<400).map { _ in try posterior.sample(generator: g) }, dim: 0).to(.float64)
        let empirical = try draws.variance(correction: 0).sqrt().item()
        #expect(abs(empirical - stats.std) <= 0.01 * stats.std, "sampled std \(empirical) vs \(stats.std)")
        // PSNR: the definition on 8-bit values, and a reconstruction decodes the posterior mean.
        let grey = RGBImage(width: 4, height: 4, fill: (100, 100, 100)), lighter = RGBImage(width: 4, height: 4, fill: (110, 110, 110))
        #expect(abs(VAEReconstruction.psnr(grey, lighter) - 10 * log10(255.0 * 255 / 100)) < 1e-9)
        #expect(VAEReconstruction.psnr(grey, grey) == .infinity)
        let decoded = try withNoGrad { try vae.decode(encoded.means.slice(dim: 0, start: 1, end: 2)) }
        #expect(try RGBImage(tensor: decoded[0]) == encoded.reconstructions[1].reconstruction)
    }

    /// `dit explain vae`: on a folder it prints each image's PSNR and the statistics (an unreadable file is skipped
    /// and named); on the latent cache `dit prepare` made of the same photographs the statistics agree (the cache
    /// stores float16 means), and a pixel cache is refused.
    @Test func explainVAEOnImagesAndOnTheirCache() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = try LatentPipelineTests.imageFolder(in: dir)
        let vaeDir = fixturesDirectory.appendingPathComponent("models/vae_tiny/model").path
        let images = try runDit(["explain", "vae", "--vae", vaeDir, "--images", folder.path, "--resolution", "32",
                                 "--output", dir.appendingPathComponent("images.png").path])
        #expect(images.status == 0, "\(images.output)")
        #expect(images.output.contains("skipped cut.jpg"), "\(images.output)")
        let vae = try AutoencoderKL.load(from: URL(fileURLWithPath: vaeDir))
        let inputs = try LatentPipelineTests.photos.sorted().map {
            try ImageTransform.resizedAndCropped(try RGBImage(contentsOf: folder.appendingPathComponent($0)), to: 32)
        }
        let encoded = try vae.reconstruct(inputs)
        let expected = try LatentStatistics(means: encoded.means, logvars: encoded.logvars)
        for (name, r) in zip(LatentPipelineTests.photos.sorted(), encoded.reconstructions) {
            let line = images.output.split(separator: "\n").first { $0.hasPrefix(name + " ") }
            #expect(line.map { abs(Double($0.split(separator: " ").last!)! - r.psnr) < 0.006 } == true, "\(name): \(line ?? "")")
        }
        func allRow(_ output: String) -> [Double] {
            output.split(separator: "\n").first { $0.hasPrefix("all ") }.map { $0.split(separator: " ").dropFirst().compactMap { Double($0) } } ?? []
        }
        #expect(allRow(images.output).count == 2)
        #expect(zip(allRow(images.output), [expected.mean, expected.std]).allSatisfy { abs($0 - $1) < 6e-5 }, "\(images.output)")
        #expect(images.output.contains(String(format: "implied scaling_factor = 1/std = %.5f; configured 0.18215", expected.impliedScalingFactor)))
        let png = try PNG.read(dir.appendingPathComponent("images.png"))
        #expect(png.width > 8 * 32 && png.height > 2 * 32, "\(png.width)×\(png.height): 6 pairs in rows of 4")

        var options = CachePreparer.Options(imageSize: 32, maxLength: 16)
        options.vae = vae
        try CachePreparer.prepare(imageFolder: folder, output: dir.appendingPathComponent("cache"), options: options)
        let cached = try runDit(["explain", "vae", "--vae", vaeDir, "--cache", dir.appendingPathComponent("cache").path,
                                 "--limit", "3", "--output", dir.appendingPathComponent("cache.png").path])
        #expect(cached.status == 0, "\(cached.output)")
        #expect(cached.output.contains("decoded the cached latents of 3 of 6 images"), "\(cached.output)")
        #expect(zip(allRow(cached.output), [expected.mean, expected.std]).allSatisfy { abs($0 - $1) < 2e-3 * max(1, abs($1)) },
                "cache \(allRow(cached.output)) vs images \([expected.mean, expected.std])")

        try CachePreparer.prepare(imageFolder: folder, output: dir.appendingPathComponent("pixels"),
                                  options: CachePreparer.Options(imageSize: 32, maxLength: 16))
        let pixels = try runDit(["explain", "vae", "--vae", vaeDir, "--cache", dir.appendingPathComponent("pixels").path])
        #expect(pixels.status != 0 && pixels.output.contains("holds pixels, not latents"), "\(pixels.output)")
        let both = try runDit(["explain", "vae", "--vae", vaeDir, "--cache", "a", "--images", "b"])
        #expect(both.status != 0 && both.output.contains("one of --images DIR or --cache DIR"), "\(both.output)")
    }
}
