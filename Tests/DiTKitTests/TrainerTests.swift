@testable import Core
@testable import Course
@testable import Datasets
@testable import Inference
@testable import Models
@testable import Prepare
@testable import Recipe
@testable import Schedulers
@testable import Training
import Foundation
import TestSupport
import Testing
import Torch

/// A 48-image shapes cache shared by the trainer tests.
let trainerFixture: Result<URL, Error> = Result {
    let dir = try temporaryDirectory()
    try ShapesDatasetWriter.write(to: dir.appendingPathComponent("shapes"), count: 48, seed: 3)
    try CachePreparer.prepare(imageFolder: dir.appendingPathComponent("shapes"), output: dir.appendingPathComponent("cache"),
                              options: CachePreparer.Options(imageSize: 32, maxLength: 12))
    return dir
}

func tinyConfig(_ dir: URL, name: String, steps: Int, extra: String = "", checkpointEvery: Int = 0,
                learningRate: String = "1.0e-3") throws -> TrainConfig {
    try TrainConfig(yaml: """
        run:
          name: \(name)
          output_dir: \(dir.appendingPathComponent("runs").path)
          seed: 7
          log_every: 2
          checkpoint_every: \(checkpointEvery)
          keep_last: 2
          sample_prompts: ["a small red circle at the top left", "a large blue square in the center"]
          sample_steps: 3
        data:
          cache: \(dir.appendingPathComponent("cache").path)
          image_size: 32
          caption_dropout: 0.2
        model:
          hidden_size: 32
          num_layers: 1
          num_heads: 2
          patch_size: 4
          in_channels: 3
          sample_size: 32
        text_encoder:
          type: clip
          hidden_size: 32
          num_layers: 1
          num_heads: 2
          max_length: 12
        scheduler:
          objective: epsilon
        optimizer:
          learning_rate: \(learningRate)
          lr_schedule: cosine
          warmup_steps: 2
          ema_decay: 0.9
        training:
          batch_size: 8
          max_steps: \(steps)
        \(extra)
        """, source: "test.yaml")
}

@Suite("Trainer", .serialized)
struct TrainerTests {
    @Test func lossGoesDownAndLogsAreReadable() throws {
        let dir = try trainerFixture.get()
        let config = try tinyConfig(dir, name: "down", steps: 30, learningRate: "3.0e-3")
        let trainer = try Trainer(config: config)
        trainer.quiet = true
        var losses: [Double] = []
        trainer.onStep = { _, l in losses.append(l) }
        try trainer.train()
        let first = losses.prefix(5).reduce(0, +) / 5, last = losses.suffix(5).reduce(0, +) / 5
        #expect(last < first * 0.8, "loss \(first) -> \(last)")
        // TensorBoard: one loss scalar per log_every steps, the lr, and a sample grid at the end.
        let out = try runPython("""
            import sys, io
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            from PIL import Image
            acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0}); acc.Reload()
            loss = acc.Scalars("train/loss")
            print(len(loss), [e.step for e in loss][:3], len(acc.Scalars("train/lr")), len(acc.Scalars("train/grad_norm")))
            print(" ".join(repr(e.value) for e in loss))
            img = acc.Images("samples")[-1]
            print(img.step, Image.open(io.BytesIO(img.encoded_image_string)).size)
            """, arguments: [trainer.runDirectory.appendingPathComponent("logs").path])
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.first == "15 [2, 4, 6] 15 15", "\(out)")
        #expect(lines.last?.hasPrefix("30 (") == true, "\(out)")
        // The logged values are the losses of steps 2, 4, ..., 30 (stored as float32).
        let logged = lines[1].split(separator: " ").compactMap { Float($0) }
        #expect(logged == stride(from: 1, to: 30, by: 2).map { Float(losses[$0]) }, "\(logged)")
        #expect(FileManager.default.fileExists(atPath: trainer.runDirectory.appendingPathComponent("samples/step-30.png").path))
        let final = try #require(losses.last)
        #expect(try Checkpoint.load(try #require(Checkpoint.latest(in: trainer.checkpointsDirectory))).state.loss == final)
    }

    /// bf16 autocast on the CPU trains too (the rtx4090 config uses fp16 on CUDA the same way): the same first
    /// micro-batch (same seed, so the same data, noise and timesteps) gives a loss that bf16 rounding moves away from
    /// the float32 one, but only by rounding.
    @Test func mixedPrecisionTrains() throws {
        let dir = try trainerFixture.get()
        var config = try tinyConfig(dir, name: "bf16", steps: 4)
        let full = try Trainer(config: config).microBatchLoss().item()
        config.training.mixedPrecision = .bf16
        let trainer = try Trainer(config: config)
        let half = try trainer.microBatchLoss().item()
        #expect(half != full, "autocast changed the arithmetic")
        // bf16 keeps 8 significant bits (~4e-3 relative per rounding).
        #expect(Swift.abs(half - full) < 2e-2 * full, "bf16 \(half), float32 \(full)")
        trainer.quiet = true
        let loss = try trainer.train()
        #expect(loss.isFinite && loss > 0)
        #expect(trainer.models.transformer.parameters().allSatisfy { $0.dtype == .float32 }, "weights stay float32")
    }

    /// 2N steps in one go equal N steps, a new process-like trainer resuming, and N more: weights identical.
    @Test func resumeIsBitExact() throws {
        let dir = try trainerFixture.get()
        let n = 5
        let straight = try Trainer(config: try tinyConfig(dir, name: "straight", steps: 2 * n))
        straight.quiet = true
        try straight.train()
        // The same 2N-step run, stopped (as if killed) right after its checkpoint at step N.
        struct Stop: Error {}
        let first = try Trainer(config: try tinyConfig(dir, name: "split", steps: 2 * n, checkpointEvery: n))
        first.quiet = true
        first.onStep = { step, _ in if step == n { throw Stop() } }
        #expect(throws: Stop.self) { try first.train() }
        manualSeed(12345)  // the resumed run must not depend on the process's RNG state
        let resumed = try Trainer(config: try tinyConfig(dir, name: "split", steps: 2 * n),
                                  resume: try #require(Checkpoint.latest(in: first.checkpointsDirectory)))
        resumed.quiet = true
        #expect(resumed.state.step == n)
        try resumed.train()
        for ((k, a), (_, b)) in zip(straight.models.stateDict(), resumed.models.stateDict()) {
            #expect(try a.to(.float64).doubles() == b.to(.float64).doubles(), "\(k) differs after resume")
        }
        #expect(try straight.ema!.stateDict()["transformer.proj_out.weight"]!.floats()
            == resumed.ema!.stateDict()["transformer.proj_out.weight"]!.floats())
    }

    @Test func keepsTheLastCheckpointsAndRefusesAnotherModel() throws {
        let dir = try trainerFixture.get()
        let trainer = try Trainer(config: try tinyConfig(dir, name: "keep", steps: 6, checkpointEvery: 1))
        trainer.quiet = true
        try trainer.train()
        #expect(Checkpoint.list(trainer.checkpointsDirectory).map(\.step) == [5, 6])
        let other = try tinyConfig(dir, name: "keep", steps: 6, extra: "").withModelLayers(2)
        #expect(throws: ConfigError.self) {
            try Trainer(config: other, resume: Checkpoint.latest(in: trainer.checkpointsDirectory))
        }
    }

    @Test func nonFiniteLossStopsWithTheLastGoodCheckpoint() throws {
        let dir = try trainerFixture.get()
        let trainer = try Trainer(config: try tinyConfig(dir, name: "nan", steps: 50, checkpointEvery: 1, learningRate: "1.0e+9"))
        trainer.quiet = true
        do {
            try trainer.train()
            Issue.record("a learning rate of 1e9 must blow up")
        } catch {
            let message = "\(error)"
            #expect(message.contains("loss became") && message.contains("last good checkpoint"), "\(message)")
            let latest = try #require(Checkpoint.latest(in: trainer.checkpointsDirectory))
            let loaded = try Checkpoint.load(latest)
            #expect(loaded.state.loss.map { $0.isFinite } == true)
        }
    }

    /// A finite loss with a NaN gradient: learned-Σ output rows set to inf make the Σ half of the prediction
    /// non-finite, which the loss never reads (finite loss), but backward computes 0 × inf = NaN for every layer
    /// below. The run stops before the optimizer step, so the weights and the checkpoints stay finite.
    @Test func nonFiniteGradientStopsBeforeTheStep() throws {
        let dir = try trainerFixture.get()
        var config = try tinyConfig(dir, name: "nan-grad", steps: 4, checkpointEvery: 1)
        config.model.learnSigma = true
        config.model.outChannels = 2 * config.model.inChannels
        try? FileManager.default.removeItem(at: config.run.directory)
        let trainer = try Trainer(config: config)
        trainer.quiet = true
        var losses: [Double] = []
        trainer.onStep = { step, loss in
            losses.append(loss)
            guard step == 2 else { return }
            let projOut = trainer.models.transformer.projOut, inChannels = config.model.inChannels
            let outChannels = 2 * inChannels, rows = projOut.weight.size(0), columns = projOut.weight.size(1)
            var w = try projOut.weight.contiguous().toArray(Float.self)
            for row in 0..<rows where row % outChannels >= inChannels {
                for c in 0..<columns { w[row * columns + c] = .infinity }
            }
            try withNoGrad { try projOut.weight.copy_(try Tensor(w).reshaped(rows, columns)) }
        }
        do {
            try trainer.train()
            Issue.record("an infinite Σ projection must give a NaN gradient")
        } catch {
            let message = "\(error)"
            #expect(message.contains("gradient norm became NaN at step 3") && message.contains("step-2"), "\(message)")
        }
        #expect(losses.count == 2 && losses.allSatisfy(\.isFinite))
        #expect(Checkpoint.list(trainer.checkpointsDirectory).map(\.step) == [1, 2])
        let saved = try Checkpoint.load(try #require(Checkpoint.latest(in: trainer.checkpointsDirectory)))
        for (name, t) in saved.model { #expect(try t.isFinite().all().item() == 1, "\(name)") }
    }

    /// The free-space check sizes a checkpoint from the model and optimizer before any is written: the estimate
    /// must cover what is then written, without asking for much more.
    @Test func checkpointSizeEstimateMatchesTheFilesWritten() throws {
        let dir = try trainerFixture.get()
        let trainer = try Trainer(config: try tinyConfig(dir, name: "disk-estimate", steps: 2))
        trainer.quiet = true
        let estimate = trainer.checkpointBytes
        try trainer.train()
        let step = try #require(Checkpoint.latest(in: trainer.checkpointsDirectory))
        let written = try FileManager.default.contentsOfDirectory(atPath: step.path).reduce(Int64(0)) {
            let attributes = try FileManager.default.attributesOfItem(atPath: step.appendingPathComponent($1).path)
            return $0 + ((attributes[.size] as? NSNumber)?.int64Value ?? 0)
        }
        #expect(estimate >= written && Double(estimate) <= Double(written) * 1.3 + 100_000, "estimate \(estimate), written \(written)")
        #expect(FileManager.default.fileExists(atPath: step.appendingPathComponent("ema.safetensors").path))
    }

    @Test func tooLittleFreeDiskSpaceIsRefusedWithTheNumbers() throws {
        let dir = try trainerFixture.get()
        let free = try DiskSpace.available(at: dir.appendingPathComponent("not/yet/created"))
        #expect(free > 0)
        try DiskSpace.require(1, at: dir, for: "a test")
        do {
            try DiskSpace.require(free * 4 + 1_000_000_000_000, at: dir, for: "the checkpoints")
            Issue.record("asking for more than the disk holds must fail")
        } catch {
            let message = "\(error)"
            #expect(message.contains(dir.path) && message.contains("not enough free disk space for the checkpoints")
                    && message.contains("MB are free"), "\(message)")
        }
    }
}

/// `config` as `<dir>/<run name>.yaml` for `dit train --config`, with no run directory left from an earlier test.
func freshRunConfigFile(_ config: TrainConfig, in dir: URL) throws -> URL {
    let file = dir.appendingPathComponent("\(config.run.name).yaml")
    try config.canonicalYAML.write(to: file, atomically: true, encoding: .utf8)
    try? FileManager.default.removeItem(at: config.run.directory)
    return file
}

extension TrainConfig {
    func withModelLayers(_ n: Int) -> TrainConfig {
        var c = self
        c.model.numLayers = n
        return c
    }
}

@Suite("Export to diffusers", .serialized)
struct ExportTests {
    /// A trained tiny run exported as diffusers/transformers folders: Python loads every part with no missing or
    /// unexpected keys and reproduces our transformer and text encoder outputs on the same inputs (≤ 1e-5).
    @Test func diffusersReproducesTheExportedModel() throws {
        let dir = try trainerFixture.get()
        let trainer = try Trainer(config: try tinyConfig(dir, name: "export", steps: 4))
        trainer.quiet = true
        try trainer.train()
        let run = try TrainedRun(path: trainer.runDirectory)
        let out = dir.appendingPathComponent("exported")
        let exported = try DiffusersExport.export(run, to: out)
        #expect(exported.parts == ["transformer", "scheduler", "tokenizer", "text_encoder"] && !exported.pipeline)

        let (ids, mask) = try run.tokenizer.encodeTensors(["a small red circle at the top left", ""], maxLength: 12)
        let context = try withNoGrad { try run.models.captionFeatures(ids: ids, mask: mask, cached: nil) }
        let x = try Tensor.randn([2, 3, 32, 32]), t = try Tensor([999, 10] as [Int64], shape: [2])
        let ours = try withNoGrad { try run.models.transformer(x, encoderHiddenStates: context, timestep: t, encoderAttentionMask: mask) }
        let inputs = dir.appendingPathComponent("export-inputs.safetensors")
        try SafeTensors.save(["hidden_states": x, "encoder_hidden_states": context, "timestep": t,
                              "encoder_attention_mask": mask, "input_ids": ids], to: inputs.path)
        let result = dir.appendingPathComponent("export-outputs.safetensors")
        let report = try runPython("""
            import sys, torch
            from diffusers import PixArtTransformer2DModel, DDIMScheduler
            from transformers import CLIPTextModel, PreTrainedTokenizerFast
            from safetensors.torch import load_file, save_file
            root, x = sys.argv[1], load_file(sys.argv[2])
            model, info = PixArtTransformer2DModel.from_pretrained(root + "/transformer", output_loading_info=True)
            text, tinfo = CLIPTextModel.from_pretrained(root + "/text_encoder", output_loading_info=True)
            tok = PreTrainedTokenizerFast.from_pretrained(root + "/tokenizer")
            sched = DDIMScheduler.from_pretrained(root + "/scheduler")
            with torch.no_grad():
                y = model.eval()(x["hidden_states"], encoder_hidden_states=x["encoder_hidden_states"], timestep=x["timestep"],
                                 encoder_attention_mask=x["encoder_attention_mask"]).sample
                h = text.eval()(input_ids=x["input_ids"], attention_mask=x["encoder_attention_mask"]).last_hidden_state
            save_file({"output": y.contiguous(), "text": h.contiguous()}, sys.argv[3])
            ids = tok("a small red circle at the top left", padding="max_length", max_length=12)["input_ids"]
            bad = sum(len(i[k]) for i in (info, tinfo) for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
            print(bad, ids == x["input_ids"][0].tolist(), type(sched).__name__)
            """, arguments: [out.path, inputs.path, result.path])
        #expect(report.trimmingCharacters(in: .whitespacesAndNewlines) == "0 True DDIMScheduler", "\(report)")
        let python = try SafeTensors.load(result.path)
        #expect(try maxAbsDiff(ours, python["output"]!) <= 1e-5)
        #expect(try maxAbsDiff(context, python["text"]!) <= 1e-5)
    }
}

@Suite("Crash safety", .serialized)
struct CrashTests {
    /// `dit train` killed with SIGKILL in the middle of writing a checkpoint: the previous checkpoint stays
    /// loadable, the half-written one is ignored, and `--resume` continues from the previous one to the end.
    @Test func sigkillDuringACheckpointWriteLeavesThePreviousOne() throws {
        let dir = try trainerFixture.get()
        let config = try tinyConfig(dir, name: "killed", steps: 6, checkpointEvery: 1)
        let file = try freshRunConfigFile(config, in: dir)
        let checkpoints = config.run.directory.appendingPathComponent("checkpoints")

        // Each checkpoint pauses half-written.
        let process = try RunningProcess(ditBinary(), ["train", "--config", file.path, "--checkpoint-pause", "2"])
        // Wait until step 1 is complete and step 2 is being written, then kill.
        let deadline = Date().addingTimeInterval(120)
        func halfWritten() -> Bool {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? []
            return names.contains("step-1") && names.contains { $0.hasPrefix(".step-2.tmp-") }
        }
        while !halfWritten() && Date() < deadline && process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        #expect(halfWritten(), "the trainer never reached the second checkpoint")
        kill(process.pid, SIGKILL)
        #expect(process.finish().reason == .uncaughtSignal)

        #expect(Checkpoint.list(checkpoints).map(\.step) == [1], "only complete checkpoints count")
        let loaded = try Checkpoint.load(try #require(Checkpoint.latest(in: checkpoints)))
        #expect(loaded.state.step == 1 && !loaded.model.isEmpty)

        let (status, log) = try runDit(["train", "--config", file.path, "--resume"])
        #expect(status == 0, "\(log)")
        #expect(log.contains("resuming from") && log.contains("step-1"), "\(log)")
        #expect(Checkpoint.list(checkpoints).last?.step == 6)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "half-written directories are cleaned up: \(leftovers)")
    }

    /// A disk that fills up during a checkpoint (here a 100 KiB file-size limit, so the weights file cannot be
    /// written; SIGXFSZ ignored so the write fails with an error instead of killing the process): the run stops
    /// with a message naming the step and the intact previous checkpoint, which `--resume` then continues from.
    @Test func aFullDiskDuringACheckpointKeepsThePreviousOne() throws {
        let dir = try trainerFixture.get()
        let config = try tinyConfig(dir, name: "disk-full", steps: 2, checkpointEvery: 2)
        let file = try freshRunConfigFile(config, in: dir)
        let checkpoints = config.run.directory.appendingPathComponent("checkpoints")
        let (first, firstLog) = try runDit(["train", "--config", file.path])
        #expect(first == 0, "\(firstLog)")
        let before = try Data(contentsOf: checkpoints.appendingPathComponent("step-2/model.safetensors"))
        #expect(before.count > 100 * 1024, "the limit must be smaller than the weights file")

        let full = try runProcess(URL(fileURLWithPath: "/bin/bash"), [
            "-c", "trap '' XFSZ; ulimit -f 100; exec \"$0\" train --config \"$1\" --resume --max-steps 4",
            ditBinary().path, file.path])
        let log = full.output
        #expect(full.reason == .exit && full.status != 0, "\(log)")
        #expect(log.contains("the checkpoint at step 4 could not be written") && log.contains("File too large")
                && log.contains("step-2 is intact"), "\(log)")
        #expect(Checkpoint.list(checkpoints).map(\.step) == [2])
        #expect(try Data(contentsOf: checkpoints.appendingPathComponent("step-2/model.safetensors")) == before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "the failed checkpoint's temporary files are removed: \(leftovers)")

        let (status, resumed) = try runDit(["train", "--config", file.path, "--resume", "--max-steps", "4"])
        #expect(status == 0, "\(resumed)")
        #expect(Checkpoint.list(checkpoints).last?.step == 4)
    }
}

@Suite("Checkpoint format")
struct CheckpointFormatTests {
    /// An fp16 step the scaler skipped leaves a non-finite loss; the checkpoint taken then is written (the loss as
    /// null: JSON has no NaN) and loads, instead of the JSON encoder throwing mid-checkpoint.
    @Test func aNonFiniteLossIsWrittenAsNull() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var state = TrainerState(step: 3, configHash: "abc")
        state.loss = .infinity
        #expect(state.loss == nil)
        state.loss = 0.5
        #expect(state.loss == 0.5)
        state.loss = .nan
        let weights = ["w": try Tensor([Float(1), 2])]
        let url = try Checkpoint.save(to: dir, step: 3, model: weights, ema: nil, optimizer: weights, state: state,
                                      keepLast: 1)
        let loaded = try Checkpoint.load(url)
        #expect(loaded.state.step == 3 && loaded.state.loss == nil)
        #expect(try String(contentsOf: url.appendingPathComponent(Checkpoint.stateFile), encoding: .utf8)
            .contains("\"loss\"") == false, "an unset loss is left out")
    }
}

@Suite("Run length", .serialized)
struct RunLengthTests {
    /// num_epochs counts passes over the cache in optimizer steps of batch × accumulation images; a last partial
    /// batch is not a step.
    @Test(arguments: [(4, 3, 8), (5, 2, 8), (48, 1, 2), (100, 1, 2)])
    func epochsBecomeOptimizerSteps(_ batch: Int, _ accumulation: Int, _ expected: Int) throws {
        let dir = try trainerFixture.get()  // 48 images
        var config = try tinyConfig(dir, name: "epochs", steps: 1)
        (config.training.batchSize, config.training.gradientAccumulationSteps) = (batch, accumulation)
        (config.training.maxSteps, config.training.numEpochs) = (nil, 2)
        #expect(try Trainer(config: config).totalSteps == expected)
    }

    /// run.threads is libtorch's intra-op thread count for the run (at::get_num_threads reads it back).
    @Test func runThreadsReachLibtorch() throws {
        let dir = try trainerFixture.get()
        let before = Runtime.threads
        defer { Runtime.threads = before }
        var config = try tinyConfig(dir, name: "threads", steps: 1)
        config.run.threads = before == 1 ? 2 : 1
        _ = try Trainer(config: config)
        #expect(Runtime.threads == config.run.threads)
    }
}

@Suite("Objectives", .serialized)
struct ObjectiveTests {
    /// Each objective trains (finite, falling loss) and samples with its own sampler.
    @Test(arguments: [("epsilon", "ddim"), ("v_prediction", "ddpm"), ("flow", "euler")])
    func trainsAndSamples(_ objective: String, _ sampler: String) throws {
        let dir = try trainerFixture.get()
        var config = try tinyConfig(dir, name: "objective-\(objective)", steps: 12, learningRate: "3.0e-3")
        config.scheduler.objective = TrainConfig.Objective(rawValue: objective)!
        config.run.sampler = TrainConfig.Sampler(rawValue: sampler)!
        let trainer = try Trainer(config: config)
        trainer.quiet = true
        var losses: [Double] = []
        trainer.onStep = { _, l in losses.append(l) }
        try trainer.train()
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(losses.suffix(3).reduce(0, +) < losses.prefix(3).reduce(0, +), "\(objective): \(losses)")
        // The run samples with the sampler its config names, deterministically per seed.
        let scheduler = try Components.sampler(config)
        #expect(type(of: scheduler).samplerName == sampler)
        let pipeline = try TrainedRun(path: trainer.runDirectory).pipeline
        func generate(seed: UInt64) throws -> Tensor {
            try pipeline.generate(["a small red circle at the top left"], scheduler: try Components.sampler(config),
                                  steps: 4, guidanceScale: 2, seed: seed)
        }
        let images = try generate(seed: 0)
        #expect(images.shape == [1, 3, 32, 32])
        #expect(try maxAbsDiff(images, try generate(seed: 0)) == 0, "the same seed gives the same image")
        #expect(try maxAbsDiff(images, try generate(seed: 1)) > 0.01, "another seed gives another image")
        #expect(try images.abs().max().item() <= 1 && images.variance().item() > 1e-4, "pixels in [-1, 1], not constant")
        #expect(throws: SamplingError.self) {
            try Components.sampler(config, override: objective == "flow" ? .ddim : .euler)
        }
    }

    /// A second trainer on the same run directory is refused while the first one's process lives; a lock left by a
    /// process that is gone is taken over.
    @Test func runLock() throws {
        let dir = try trainerFixture.get()
        let config = try tinyConfig(dir, name: "locked", steps: 1)
        try FileManager.default.createDirectory(at: config.run.directory, withIntermediateDirectories: true)
        let lock = config.run.directory.appendingPathComponent(".lock")
        try "\(getpid()) \(ProcessInfo.processInfo.hostName)".write(to: lock, atomically: true, encoding: .utf8)
        let busy = try Trainer(config: config)
        busy.quiet = true
        #expect { try busy.train() } throws: { "\($0)".contains("another dit train (pid \(getpid()))") }
        // A pid that no process has: stale.
        try "2147483646 \(ProcessInfo.processInfo.hostName)".write(to: lock, atomically: true, encoding: .utf8)
        let trainer = try Trainer(config: config)
        trainer.quiet = true
        try trainer.train()
        #expect(trainer.state.step == 1 && !FileManager.default.fileExists(atPath: lock.path), "released at the end")
        // A killed trainer that nobody has reaped yet (a zombie) answers kill(pid, 0) but holds nothing.
        var zombie: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawn(&zombie, "/bin/true", nil, nil, argv, environ) == 0)
        usleep(200_000)
        #expect(kill(zombie, 0) == 0 && !RunLock.isRunning(zombie))
        try "\(zombie) \(ProcessInfo.processInfo.hostName)".write(to: lock, atomically: true, encoding: .utf8)
        var longer = config
        longer.training.maxSteps = 2
        let again = try Trainer(config: longer, resume: Checkpoint.latest(in: config.run.checkpointsDirectory))
        again.quiet = true
        try again.train()
        var status: Int32 = 0
        waitpid(zombie, &status, 0)
    }

    /// Ctrl-C (SIGINT) finishes the step, writes a checkpoint, exits with 130; --resume goes on from there.
    @Test func ctrlCSavesACheckpoint() throws {
        let dir = try trainerFixture.get()
        let config = try tinyConfig(dir, name: "interrupted", steps: 20_000, checkpointEvery: 1_000_000)
        let file = try freshRunConfigFile(config, in: dir)
        let process = try RunningProcess(ditBinary(), ["train", "--config", file.path])
        // Interrupt once training is under way (the TensorBoard log appears with the first steps).
        let logs = config.run.directory.appendingPathComponent("logs")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && process.isRunning
            && ((try? FileManager.default.contentsOfDirectory(atPath: logs.path))?.isEmpty ?? true) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        Thread.sleep(forTimeInterval: 0.5)
        kill(process.pid, SIGINT)
        let ended = process.finish(), log = ended.output
        #expect(ended.status == 130, "\(log)")
        let saved = try #require(Checkpoint.list(config.run.checkpointsDirectory).last, "\(log)")
        #expect(saved.step > 0 && saved.step < 20_000 && log.contains("interrupted at step \(saved.step)"), "\(log)")
        #expect(!FileManager.default.fileExists(atPath: config.run.directory.appendingPathComponent(".lock").path))
        var shorter = config
        shorter.training.maxSteps = saved.step + 2
        let resumed = try Trainer(config: shorter, resume: saved.url)
        resumed.quiet = true
        try resumed.train()
        #expect(resumed.state.step == saved.step + 2)
    }
}
