@testable import Course
@testable import Schedulers
@testable import Core
@testable import Datasets
@testable import Models
@testable import Recipe
@testable import Training
import Foundation
import TestSupport
import Testing
import Torch

/// The smallest valid config: every required key, nothing else.
private let minimalYAML = """
    run:
      name: test
    data:
      cache: cache/shapes
      image_size: 32
    model:
      hidden_size: 64
      num_layers: 2
      num_heads: 4
      patch_size: 2
      in_channels: 3
      sample_size: 32
    text_encoder:
      type: clip
    scheduler:
      objective: epsilon
    optimizer:
      learning_rate: 1.0e-3
    training:
      batch_size: 8
      max_steps: 100

    """

/// `minimalYAML` with each (old, new) line replaced; a replacement must match exactly once.
private func edited(_ edits: (String, String)...) -> String { edited(edits) }

private func edited(_ edits: [(String, String)]) -> String {
    var text = minimalYAML
    for (old, new) in edits {
        precondition(text.components(separatedBy: old).count == 2, "'\(old)' is not in the minimal config once")
        text = text.replacingOccurrences(of: old, with: new)
    }
    return text
}

/// The ConfigError that `yaml` gives (the test fails if it loads).
private func problems(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    do {
        let config = try TrainConfig(yaml: yaml, source: "test.yaml")
        Issue.record("expected a ConfigError, loaded \(config)", sourceLocation: sourceLocation)
        return ""
    } catch let error as ConfigError {
        #expect(error.file == "test.yaml", sourceLocation: sourceLocation)
        return error.description
    } catch {
        Issue.record("expected a ConfigError, got \(error)", sourceLocation: sourceLocation)
        return ""
    }
}

private let configsDirectory = packageRoot.appendingPathComponent("configs")

@Suite struct TrainConfigTests {
    /// Every key a config file spells out reads as PyYAML reads it (an independent parser), compared through
    /// canonicalYAML; returns the mismatches.
    private func disagreementsWithPyYAML(_ file: URL, _ c: TrainConfig) throws -> String {
        let canonical = try temporaryDirectory().appendingPathComponent("canonical.yaml")
        defer { try? FileManager.default.removeItem(at: canonical.deletingLastPathComponent()) }
        try c.canonicalYAML.write(to: canonical, atomically: true, encoding: .utf8)
        return try runPython("""
            import sys, yaml
            given, ours = (yaml.safe_load(open(p)) for p in sys.argv[1:3])
            if given["run"].get("device") == "cuda": given["run"]["device"] = "cuda:0"  # the same device, named
            bad = [f"{s}.{k}: file {v!r}, read {ours.get(s, {}).get(k)!r}" for s, keys in given.items()
                   for k, v in (keys or {}).items() if ours.get(s, {}).get(k) != v]
            print("\\n".join(bad) or "ok")
            """, arguments: [file.path, canonical.path]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func tinyCPUConfigLoads() throws {
        let file = configsDirectory.appendingPathComponent("tiny-cpu.yaml")
        let c = try TrainConfig.load(file)
        let disagreements = try disagreementsWithPyYAML(file, c)
        #expect(disagreements == "ok")
        // What the file leaves to DiTKit: defaults that depend on other keys.
        #expect(c.run.sampler == .euler && c.model.attentionHeadDim == 32 && c.vae == nil)
        #expect(c.run.directory.path.hasSuffix("runs/tiny-cpu"))
        // The sample prompts are captions the shapes data set can draw.
        #expect(c.run.samplePrompts.count == 8)
        for prompt in c.run.samplePrompts {
            #expect(ShapeAttributes(caption: prompt)?.caption() == prompt, "\(prompt)")
        }
        let p = c.pixArtConfig
        #expect(p.numAttentionHeads == 4 && p.attentionHeadDim == 32 && p.innerDim == 128 && p.numLayers == 6)
        #expect(p.inChannels == 3 && p.outChannels == 3 && p.sampleSize == 32 && p.patchSize == 4)
        #expect(p.crossAttentionDim == 128 && p.captionChannels == 128 && p.resolvedUseAdditionalConditions == false)
        try p.validate()
    }

    @Test func rtx4090ConfigLoads() throws {
        let file = configsDirectory.appendingPathComponent("rtx4090-256.yaml")
        let c = try TrainConfig.load(file)
        let disagreements = try disagreementsWithPyYAML(file, c)
        #expect(disagreements == "ok")
        #expect(c.model.attentionHeadDim == 64 && c.model.outChannels == 4 && !c.textEncoder.trainable)
        #expect(c.pixArtConfig.captionChannels == 384 && c.pixArtConfig.innerDim == 384)
        try c.pixArtConfig.validate()
        // A CLIP-L text encoder's 768-wide features: the caption projection reads 768 and writes the DiT's width.
        let model = try PixArtTransformer2DModel(c.pixArtConfig(captionChannels: 768))
        let shapes = Dictionary(model.stateDict().map { ($0.0, $0.1.shape) }, uniquingKeysWith: { a, _ in a })
        #expect(shapes["caption_projection.linear_1.weight"] == [384, 768])
    }

    /// Every shipped config loads, and the bf16 variant differs from the seed's fp16 one only in precision and name.
    @Test func everyShippedConfigLoads() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: configsDirectory.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 3)
        for file in files { _ = try TrainConfig.load(configsDirectory.appendingPathComponent(file)) }
        var bf16 = try TrainConfig.load(configsDirectory.appendingPathComponent("rtx4090-256-bf16.yaml"))
        let fp16 = try TrainConfig.load(configsDirectory.appendingPathComponent("rtx4090-256.yaml"))
        #expect(bf16.training.mixedPrecision == .bf16 && fp16.training.mixedPrecision == .fp16)
        bf16.training.mixedPrecision = .fp16
        bf16.run.name = fp16.run.name
        #expect(bf16 == fp16)
    }

    @Test func defaultsAreFilledIn() throws {
        let c = try TrainConfig(yaml: minimalYAML, source: "minimal.yaml")
        // The run stores its config with every default spelled out, and reading that back gives the same config.
        let canonical = c.canonicalYAML
        #expect(try TrainConfig(yaml: canonical, source: "canonical.yaml") == c)
        for (section, keys) in TrainConfig.schema where section != "vae" {
            let start = try #require(canonical.range(of: "\(section):\n"), "no \(section) section")
            let body = canonical[start.upperBound...].split(separator: "\n").prefix { $0.hasPrefix(" ") }
                .joined(separator: "\n")
            // Exactly one of max_steps and num_epochs is set; the other is left out.
            for key in keys where "\(section).\(key)" != "training.num_epochs" {
                #expect(body.contains("  \(key):"), "\(section).\(key) is not written out:\n\(body)")
            }
        }
        // Defaults that follow other keys.
        #expect(c.model.attentionHeadDim == c.model.hiddenSize / c.model.numHeads)
        #expect(c.model.outChannels == c.model.inChannels && c.model.crossAttentionDim == c.model.hiddenSize)
        #expect(c.textEncoder.trainable == c.textEncoder.isNew && c.run.sampler == c.scheduler.objective.defaultSampler)
        #expect(c.vae == nil)
        // The libraries' own defaults: diffusers' DDPMScheduler, torch's AdamW, CLIP's context length.
        let reference = try runPython("""
            import json, torch
            from diffusers import DDPMScheduler
            from transformers import CLIPTextConfig
            s, a = DDPMScheduler().config, torch.optim.AdamW([torch.zeros(1)]).defaults
            print(json.dumps([s.num_train_timesteps, s.beta_schedule, list(a["betas"]), a["eps"],
                              CLIPTextConfig().max_position_embeddings]))
            """)
        #expect(reference.trimmingCharacters(in: .whitespacesAndNewlines) == "[\(c.scheduler.numTrainTimesteps), "
            + "\"\(c.scheduler.betaSchedule)\", [\(c.optimizer.betas[0]), \(c.optimizer.betas[1])], \(c.optimizer.eps), "
            + "\(c.textEncoder.maxLength)]")
        // DiTKit's own choices (configs/*.yaml documents them): no weight decay (torch's AdamW has 0.01), no shift.
        #expect(c.optimizer.weightDecay == 0 && c.scheduler.shift == 1 && c.optimizer.emaDecay == 0.9999)
    }

    @Test func defaultsThatDependOnOtherKeys() throws {
        let flow = try TrainConfig(yaml: edited(("objective: epsilon", "objective: flow")), source: "t.yaml")
        #expect(flow.run.sampler == .euler)
        let sigma = try TrainConfig(yaml: edited(("in_channels: 3", "in_channels: 3\n  learn_sigma: true")), source: "t.yaml")
        #expect(sigma.model.outChannels == 6 && sigma.pixArtConfig.resolvedOutChannels == 6)
        let minilm = try TrainConfig(yaml: edited(("type: clip", "type: minilm\n  path: models/minilm")), source: "t.yaml")
        #expect(!minilm.textEncoder.trainable && !minilm.textEncoder.isNew)
        #expect(minilm.pixArtConfig.captionChannels == 384)
        let pretrainedCLIP = try TrainConfig(yaml: edited(("type: clip", "type: clip\n  path: models/clip")), source: "t.yaml")
        #expect(!pretrainedCLIP.textEncoder.trainable && pretrainedCLIP.pixArtConfig.captionChannels == nil)
        let noEMA = try TrainConfig(yaml: edited(("learning_rate: 1.0e-3", "learning_rate: 1.0e-3\n  ema_decay: null\n  max_grad_norm: ~")),
                                    source: "t.yaml")
        #expect(noEMA.optimizer.emaDecay == nil && noEMA.optimizer.maxGradNorm == nil)
    }

    @Test func numbersAsYAMLWritesThem() throws {
        let c = try TrainConfig(yaml: edited(("learning_rate: 1.0e-3", "learning_rate: 1e-4\n  eps: 1"),
                                             ("max_steps: 100", "max_steps: 1e4"), ("name: test", "name: test\n  seed: 0x10")),
                                source: "t.yaml")
        #expect(c.optimizer.learningRate == 1e-4 && c.optimizer.eps == 1 && c.training.maxSteps == 10_000 && c.run.seed == 16)
        #expect(problems(edited(("max_steps: 100", "max_steps: 1.5"))).contains("expected an integer, found the number 1.5"))
        #expect(problems(edited(("max_steps: 100", "max_steps: 99999999999999999999"))).contains("out of range"))
        #expect(problems(edited(("learning_rate: 1.0e-3", "learning_rate: .inf"))).contains("finite"))
    }

    @Test func mixedPrecisionAcceptsUnquotedNo() throws {
        for spelling in ["no", "\"no\"", "false", "bf16"] {
            let c = try TrainConfig(yaml: edited(("max_steps: 100", "max_steps: 100\n  mixed_precision: \(spelling)")),
                                    source: "t.yaml")
            #expect(c.training.mixedPrecision == (spelling == "bf16" ? .bf16 : .no), "\(spelling)")
        }
        #expect(problems(edited(("max_steps: 100", "max_steps: 100\n  mixed_precision: true")))
            .contains("training.mixed_precision"))
    }

    @Test func canonicalYAMLRoundTrips() throws {
        let configs = [
            try TrainConfig.load(configsDirectory.appendingPathComponent("tiny-cpu.yaml")),
            try TrainConfig.load(configsDirectory.appendingPathComponent("rtx4090-256.yaml")),
            try TrainConfig(yaml: minimalYAML, source: "minimal.yaml"),
            try TrainConfig(yaml: edited(("name: test", "name: \"2024: \\\"quoted\\\" \\\\ run\""),
                                         ("cache: cache/shapes", "cache: 'no'"),
                                         ("objective: epsilon", "objective: flow\n  shift: 3.0"),
                                         ("type: clip", "type: clip\n  path: models/clip")), source: "odd.yaml"),
        ]
        for c in configs {
            let again = try TrainConfig(yaml: c.canonicalYAML, source: "canonical.yaml")
            #expect(again == c, "\(c.canonicalYAML)")
            #expect(again.hash == c.hash && again.canonicalYAML == c.canonicalYAML)
            #expect(c.hash.count == 16 && c.hash.allSatisfy(\.isHexDigit))
        }
        #expect(configs[3].run.name == "2024: \"quoted\" \\ run" && configs[3].data.cache == "no")
        // Keys in schema order, defaults spelled out.
        let text = configs[2].canonicalYAML
        let sections = text.split(separator: "\n").filter { !$0.hasPrefix(" ") }.map { $0.split(separator: ":")[0] }
        #expect(sections == ["run", "data", "model", "text_encoder", "vae", "scheduler", "optimizer", "training"])
        #expect(text.contains("  ema_decay: 0.9999\n") && text.contains("  mixed_precision: 'no'\n"))
        #expect(text.contains("  attention_head_dim: 16\n") && text.contains("vae: null\n"))
    }

    @Test func hashIgnoresFormattingButNotValues() throws {
        let base = try TrainConfig(yaml: minimalYAML, source: "t.yaml")
        // Comments and spelled-out defaults do not change what is trained.
        let same = try TrainConfig(yaml: "# a comment\n" + edited(("name: test", "name: test   # the run\n  seed: 0")),
                                   source: "t.yaml")
        #expect(same.hash == base.hash)
        for change in [("name: test", "name: other"), ("learning_rate: 1.0e-3", "learning_rate: 2.0e-3"),
                       ("max_steps: 100", "max_steps: 101")] {
            let changed = try TrainConfig(yaml: edited(change), source: "t.yaml")
            #expect(changed.hash != base.hash, "\(change)")
        }
        var mutated = base
        mutated.optimizer.emaDecay = nil
        #expect(mutated.hash != base.hash)
    }

    @Test(arguments: [
        // (what is wrong, the edit, the key path the error must name)
        ("unknown section", ("training:", "trainig:\n  x: 1\ntraining:"), "trainig"),
        ("unknown nested key", ("num_layers: 2", "num_layers: 2\n  hiden_size: 3"), "model.hiden_size"),
        ("heads do not divide hidden", ("num_heads: 4", "num_heads: 5"), "model.num_heads"),
        ("patch does not divide sample", ("patch_size: 2", "patch_size: 3"), "model.patch_size"),
        ("attention_head_dim", ("num_heads: 4", "num_heads: 4\n  attention_head_dim: 32"), "model.attention_head_dim"),
        ("negative learning rate", ("learning_rate: 1.0e-3", "learning_rate: -1.0e-3"), "optimizer.learning_rate"),
        ("both durations", ("max_steps: 100", "max_steps: 100\n  num_epochs: 3"), "training.max_steps"),
        ("no duration", ("max_steps: 100", "num_epochs: null"), "training.max_steps"),
        ("string for an int", ("batch_size: 8", "batch_size: \"8\""), "training.batch_size"),
        ("euler with epsilon", ("name: test", "name: test\n  sampler: euler"), "run.sampler"),
        ("minilm without path", ("type: clip", "type: minilm"), "text_encoder.path"),
        ("image_size vs sample_size", ("image_size: 32", "image_size: 64"), "data.image_size"),
        ("image_size with a VAE", ("  image_size: 32\n", "  image_size: 40\nvae:\n  path: models/vae\n"), "data.image_size"),
        ("bad device", ("name: test", "name: test\n  device: gpu"), "run.device"),
        ("missing required key", ("  hidden_size: 64\n", ""), "model.hidden_size"),
        ("missing section", ("scheduler:\n  objective: epsilon\n", ""), "scheduler"),
        ("out_channels", ("in_channels: 3", "in_channels: 3\n  out_channels: 4"), "model.out_channels"),
        ("cross_attention_dim", ("in_channels: 3", "in_channels: 3\n  cross_attention_dim: 32"), "model.cross_attention_dim"),
        ("fp16 on cpu", ("max_steps: 100", "max_steps: 100\n  mixed_precision: fp16"), "training.mixed_precision"),
        ("shift without flow", ("objective: epsilon", "objective: epsilon\n  shift: 3.0"), "scheduler.shift"),
        ("clip shape with a path", ("type: clip", "type: minilm\n  path: m\n  hidden_size: 384"), "text_encoder.hidden_size"),
        ("betas", ("learning_rate: 1.0e-3", "learning_rate: 1.0e-3\n  betas: [0.9]"), "optimizer.betas"),
        ("bad run name", ("name: test", "name: a/b"), "run.name"),
        ("caption dropout", ("image_size: 32", "image_size: 32\n  caption_dropout: 1.0"), "data.caption_dropout"),
        ("unknown choice", ("objective: epsilon", "objective: x0"), "scheduler.objective"),
    ] as [(String, (String, String), String)])
    func invalidConfigNamesTheKey(_ what: String, _ edit: (String, String), _ key: String) {
        let text = problems(edited(edit))
        #expect(text.contains(key), "\(what): \(text)")
    }

    @Test func errorsSayWhatWasExpectedAndWhere() {
        let typo = problems(edited(("num_layers: 2", "num_layers: 2\n  hiden_size: 64"), ("  hidden_size: 64\n", "")))
        // The typo is reported once, with a suggestion and its line, not also as a missing hidden_size.
        #expect(typo == "test.yaml: model.hiden_size: unknown key (did you mean hidden_size?) (line 8)")
        let misplaced = problems(edited(("batch_size: 8", "batch_size: 8\n  learning_rate: 0.1")))
        #expect(misplaced.contains("training.learning_rate: unknown key (it belongs in the optimizer section)"))
        let type = problems(edited(("batch_size: 8", "batch_size: eight")))
        #expect(type.contains("expected an integer, found the string \"eight\""))
        let heads = problems(edited(("num_heads: 4", "num_heads: 5")))
        #expect(heads.contains("5") && heads.contains("64"))
        let ddimFlow = problems(edited(("objective: epsilon", "objective: flow"), ("name: test", "name: test\n  sampler: ddim")))
        #expect(ddimFlow.contains("run.sampler: ddim cannot sample the flow objective (expected euler)"))
        let device = problems(edited(("name: test", "name: test\n  device: gpu")))
        #expect(device.contains("'gpu'") && device.contains("cuda:N"))
    }

    @Test func reportsEveryProblemAtOnce() {
        let text = problems(edited(("num_layers: 2", "num_layers: 2\n  hiden_size: 64"),
                                   ("learning_rate: 1.0e-3", "learning_rate: -1"),
                                   ("name: test", "name: test\n  sampler: euler")))
        #expect(text.hasPrefix("test.yaml: 3 problems:\n"), "\(text)")
        #expect(text.contains("model.hiden_size") && text.contains("optimizer.learning_rate") && text.contains("run.sampler"))
        // In file order.
        let order = ["run.sampler", "model.hiden_size", "optimizer.learning_rate"].map { text.range(of: $0)!.lowerBound }
        #expect(order == order.sorted())
    }

    @Test func malformedYAMLNamesTheFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("broken.yaml")
        try "run:\n  name: [unclosed\ndata: {\n".write(to: file, atomically: true, encoding: .utf8)
        #expect {
            try TrainConfig.load(file)
        } throws: { error in
            let text = "\(error)"
                return error is ConfigError && text.contains(file.path) && text.contains("not valid YAML")
        }
        #expect(throws: ConfigError.self) { try TrainConfig.load(dir.appendingPathComponent("missing.yaml")) }
        #expect(problems("").contains("empty"))
        #expect(problems("- a list\n").contains("expected a mapping of the sections"))
        #expect(problems("run:\n  name: a\nrun:\n  name: b\n").contains("duplicate key run"))
    }
}
