@testable import Core
@testable import Course
@testable import Inference
@testable import Prepare
@testable import Recipe
@testable import Training
import Foundation
import TestSupport
import Testing
import Torch

/// Every file under `dir` with its bytes (hidden temporaries included), for "nothing changed" checks.
func snapshot(_ dir: URL) -> [String: Data] {
    var files: [String: Data] = [:]
    let base = dir.standardizedFileURL.path
    if let walker = FileManager.default.enumerator(atPath: base) {
        for case let relative as String in walker {
            var isFolder: ObjCBool = false
            let path = base + "/" + relative
            if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue {
                files[relative] = FileManager.default.contents(atPath: path)
            }
        }
    }
    return files
}

/// A trained tiny run (steps 2 and 4 checkpointed, keep_last 2) under a fresh name, with its config as a file.
func trainedRun(_ name: String, steps: Int = 4, extra: String = "") throws -> (config: TrainConfig, file: URL) {
    let dir = try trainerFixture.get()
    let config = try tinyConfig(dir, name: name, steps: steps, extra: extra, checkpointEvery: 2)
    let file = try freshRunConfigFile(config, in: dir)
    let trainer = try Trainer(config: config)
    trainer.quiet = true
    try trainer.train()
    return (config, file)
}

@Suite("Runs are never lost", .serialized)
struct RunSafetyTests {
    /// A second fresh `dit train` on a run with checkpoints stops at once and leaves every byte where it was.
    @Test func aSecondFreshTrainIsRefusedAndChangesNothing() throws {
        let (config, file) = try trainedRun("second")
        let before = snapshot(config.run.directory)
        #expect(before.keys.contains("checkpoints/step-4/model.safetensors") && before.keys.contains("config.yaml"))
        let start = Date()
        let run = try runProcess(ditBinary(), ["train", "--config", file.path])
        let seconds = Date().timeIntervalSince(start)
        #expect(run.status != 0, "\(run.output)")
        #expect(seconds < 5, "took \(seconds) s")
        for needed in ["already holds a trained run", "step-2, step-4", "--resume", "run.name", "--overwrite", "nothing is deleted"] {
            #expect(run.output.contains(needed), "missing '\(needed)' in: \(run.output)")
        }
        #expect(snapshot(config.run.directory) == before)
        // The library refuses the same way (tests, scripts).
        #expect { try Trainer(config: config) } throws: { "\($0)".contains("already holds a trained run") }
    }

    /// --overwrite keeps the old run, whole, under a new name beside it, and trains the new one in its place.
    @Test func overwriteMovesTheOldRunAside() throws {
        let (config, _) = try trainedRun("replaced")
        let before = snapshot(config.run.directory)
        let trainer = try Trainer(config: config.withModelLayers(2), overwrite: true)
        trainer.quiet = true
        try trainer.train()
        let runs = config.run.directory.deletingLastPathComponent()
        let aside = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { $0.hasPrefix("replaced.before-") }
        #expect(aside.count == 1, "\(aside)")
        var old = before
        old.removeValue(forKey: ".lock")
        #expect(snapshot(runs.appendingPathComponent(aside[0])) == old, "the old run moved whole")
        #expect(Checkpoint.list(config.run.checkpointsDirectory).map(\.step) == [2, 4])
        #expect(try TrainConfig.ofRun(config.run.directory).model.numLayers == 2)
        // The old run is still a usable run under its new name.
        let oldRun = try TrainedRun(path: runs.appendingPathComponent(aside[0]))
        #expect(oldRun.config.model.numLayers == 1)
    }

    /// Resuming from a checkpoint older than the latest says so; with --overwrite the later ones move aside and
    /// keep_last prunes only the resumed run's own checkpoints.
    @Test func resumeFromAnOlderCheckpointAsksForIt() throws {
        let (config, _) = try trainedRun("older", steps: 6)
        let checkpoints = config.run.checkpointsDirectory
        #expect(Checkpoint.list(checkpoints).map(\.step) == [4, 6])
        let older = checkpoints.appendingPathComponent("step-4")
        let before = snapshot(config.run.directory)
        #expect { try Trainer(config: config, resume: older) } throws: {
            "\($0)".contains("not the latest checkpoint") && "\($0)".contains("step-6 came later")
                && "\($0)".contains("--overwrite")
        }
        #expect(snapshot(config.run.directory) == before)
        let step6 = try Data(contentsOf: checkpoints.appendingPathComponent("step-6/model.safetensors"))
        let trainer = try Trainer(config: config, resume: older, overwrite: true)
        trainer.quiet = true
        try trainer.train()
        let aside = try FileManager.default.contentsOfDirectory(atPath: config.run.directory.path)
            .filter { $0.hasPrefix("checkpoints.after-step-4-") }
        #expect(aside.count == 1, "\(aside)")
        #expect(try Data(contentsOf: config.run.directory.appendingPathComponent("\(aside[0])/step-6/model.safetensors")) == step6)
        #expect(Checkpoint.list(checkpoints).map(\.step) == [4, 6])
    }

    /// keep_last deletes only earlier checkpoints of the same run (architecture hash), never another run's.
    @Test func keepLastOnlyPrunesItsOwnRun() throws {
        let folder = try temporaryDirectory().appendingPathComponent("checkpoints")
        let weights = ["w": try Tensor([1.0, 2.0], shape: [2])]
        func save(_ step: Int, hash: String) throws {
            _ = try Checkpoint.save(to: folder, step: step, model: weights, ema: nil, optimizer: [:],
                                    state: TrainerState(step: step, rngState: "AA==", configHash: hash), keepLast: 1)
        }
        try save(1, hash: "other")
        try save(2, hash: "mine")
        try save(3, hash: "mine")
        #expect(Checkpoint.list(folder).map(\.step) == [1, 3], "step 1 is another run's, step 2 pruned")
    }

    /// A finished run resumed: the message, exit 0, nothing written and no NaN.
    @Test func resumingAFinishedRunWritesNothing() throws {
        let (config, file) = try trainedRun("finished")
        let before = snapshot(config.run.directory)
        let run = try runProcess(ditBinary(), ["train", "--config", file.path, "--resume"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("is already at step 4 of 4") && run.output.contains("raise --max-steps"), "\(run.output)")
        #expect(!run.output.lowercased().contains("nan"), "\(run.output)")
        #expect(snapshot(config.run.directory) == before)
        // With more steps it trains on.
        let more = try runProcess(ditBinary(), ["train", "--config", file.path, "--resume", "--max-steps", "5"])
        #expect(more.status == 0 && more.output.contains("resuming from"), "\(more.output)")
        #expect(Checkpoint.list(config.run.checkpointsDirectory).last?.step == 5)
    }

    /// Problems the run would meet later are found before step 1, all of them at once.
    @Test func problemsAreReportedTogetherBeforeTheFirstStep() throws {
        let dir = try trainerFixture.get()
        var config = try tinyConfig(dir, name: "doomed", steps: 4)
        config.textEncoder.path = dir.appendingPathComponent("models/no-such-encoder").path
        config.textEncoder.type = .minilm
        // A folder that cannot be made: its parent is a file.
        config.run.outputDir = dir.appendingPathComponent("cache/manifest.json/runs").path
        let file = try freshRunConfigFile(config, in: dir)
        let start = Date()
        let run = try runProcess(ditBinary(), ["train", "--config", file.path])
        #expect(run.status != 0 && Date().timeIntervalSince(start) < 5, "\(run.output)")
        for needed in ["3 problems were found before the first step", "text_encoder.path: no such directory",
                       "text_embedding_dim", "run.output_dir: cannot write the run here"] {
            #expect(run.output.contains(needed), "missing '\(needed)' in: \(run.output)")
        }
        #expect(!run.output.contains("step 1"))
    }

    /// A text encoder whose width is not the cached features' is refused before training, naming both widths.
    @Test func anEncoderThatDoesNotMatchTheCacheIsRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let encoder = try LatentPipelineTests.clipEncoder(in: dir)
        let vae = try LatentPipelineTests.legacyVAE(in: dir)
        let config = try LatentPipelineTests.config(dir, encoder: ("clip", encoder), vae: vae, name: "width", steps: 2)
        try CachePreparer.prepare(.imageFolder(try LatentPipelineTests.imageFolder(in: dir)), config: config, batchSize: 4)
        // The cache holds the features, so the steps never need the encoder: a wrong path is still found at start.
        var moved = config
        moved.textEncoder.path = dir.appendingPathComponent("clip-moved").path
        #expect { try Trainer(config: moved) } throws: {
            "\($0)".contains("text_encoder.path: no such directory") && "\($0)".contains("clip-moved")
        }
        // The same folder with a wider encoder's config.json.
        let config32 = encoder.appendingPathComponent("config.json")
        var json = try jsonObject(config32)
        json["hidden_size"] = .integer(48)
        try JSONValue.object(json).serialized().write(to: config32, atomically: true, encoding: .utf8)
        #expect { try Trainer(config: config) } throws: { "\($0)".contains("features are 48 wide, the cache's are 32") }
    }

    /// A warm-up longer than the run, and checkpoints or grids beyond the last step, are warned about first.
    @Test func scheduleWarnings() throws {
        let dir = try trainerFixture.get()
        var config = try tinyConfig(dir, name: "warmup", steps: 4, checkpointEvery: 100)
        config.optimizer.warmupSteps = 500
        config.run.sampleEvery = 50
        let warnings = RunPreflight(config: config, device: .cpu).warnings
        #expect(warnings.contains { $0.contains("never leaves warm-up") && $0.contains("500") }, "\(warnings)")
        #expect(warnings.contains { $0.contains("run.checkpoint_every 100") }, "\(warnings)")
        #expect(warnings.contains { $0.contains("run.sample_every 50") }, "\(warnings)")
        config.optimizer.lrSchedule = "constant"
        config.optimizer.warmupSteps = 2
        #expect(RunPreflight(config: config, device: .cpu).warnings.contains { $0.contains("has no effect") })
        config.training.batchSize = 64
        #expect(RunPreflight(config: config, device: .cpu).warnings.contains { $0.contains("fewer than one batch") })
        // The command prints them before training.
        var short = try tinyConfig(dir, name: "warmup-cli", steps: 1)
        short.optimizer.warmupSteps = 500
        let run = try runProcess(ditBinary(), ["train", "--config", try freshRunConfigFile(short, in: dir).path])
        #expect(run.status == 0 && run.output.contains("warning: optimizer.warmup_steps 500"), "\(run.output)")
    }

    /// A checkpoint from before paths left the hash (its config_hash counts the paths as written, no cache identity)
    /// still resumes; a checkpoint trained on other data does not.
    @Test func olderCheckpointsResumeAndOtherDataIsRefused() throws {
        let (config, _) = try trainedRun("legacy")
        let step4 = config.run.checkpointsDirectory.appendingPathComponent("step-4")
        var state = try #require(Checkpoint.state(of: step4))
        #expect(state.configHash == config.architectureHash && state.cacheIdentity != nil)
        state.configHash = config.legacyArchitectureHash
        state.cacheIdentity = nil
        try AtomicFile.writeJSON(state, to: step4.appendingPathComponent(Checkpoint.stateFile))
        var longer = config
        longer.training.maxSteps = 5
        let resumed = try Trainer(config: longer, resume: step4)
        resumed.quiet = true
        try resumed.train()
        #expect(Checkpoint.state(of: config.run.checkpointsDirectory.appendingPathComponent("step-5"))?.configHash
            == config.architectureHash)
        // The same checkpoint against another cache (other images and captions).
        let other = try temporaryDirectory()
        try ShapesDatasetWriter.write(to: other.appendingPathComponent("shapes"), count: 48, seed: 99)
        try CachePreparer.prepare(imageFolder: other.appendingPathComponent("shapes"), output: other.appendingPathComponent("cache"),
                                  options: CachePreparer.Options(imageSize: 32, maxLength: 12))
        var moved = longer
        moved.data.cache = other.appendingPathComponent("cache").path
        moved.training.maxSteps = 6
        #expect { try Trainer(config: moved, resume: Checkpoint.latest(in: config.run.checkpointsDirectory)) } throws: {
            "\($0)".contains("trained on other data")
        }
    }
}

@Suite("Runs used from anywhere", .serialized)
struct SelfContainedRunTests {
    /// A latent run trained with relative paths generates the same image from the training directory, from another
    /// directory, and (an older run whose config.yaml kept the relative paths) from another directory again.
    @Test func generateFromAnotherDirectoryReproducesTheImage() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let project = dir.appendingPathComponent("project"), elsewhere = dir.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let encoder = try LatentPipelineTests.clipEncoder(in: project)
        let vae = try LatentPipelineTests.legacyVAE(in: project)
        let absolute = try LatentPipelineTests.config(project, encoder: ("clip", encoder), vae: vae, name: "rel", steps: 2)
        try CachePreparer.prepare(.imageFolder(try LatentPipelineTests.imageFolder(in: project)), config: absolute,
                                  output: project.appendingPathComponent("cache"), batchSize: 4)
        var relative = absolute
        (relative.run.outputDir, relative.data.cache, relative.vae!.path, relative.textEncoder.path) = ("runs", "cache", "vae", "clip")
        try relative.canonicalYAML.write(to: project.appendingPathComponent("rel.yaml"), atomically: true, encoding: .utf8)
        let train = try runProcess(ditBinary(), ["train", "--config", "rel.yaml"], directory: project)
        #expect(train.status == 0, "\(train.output)")
        let run = project.appendingPathComponent("runs/rel")
        let recorded = try TrainConfig.load(run.appendingPathComponent("config.yaml"))
        #expect(recorded.pathsAreAbsolute && recorded.vae?.path == vae.standardizedFileURL.path, "\(recorded.canonicalYAML)")

        func generate(from cwd: URL, _ name: String) throws -> Data {
            let out = dir.appendingPathComponent("out/\(name)/grid.png")  // a folder that does not exist yet
            let g = try runProcess(ditBinary(), ["generate", "--checkpoint", run.path, "an astronaut", "--steps", "2",
                                                 "--output", out.path], directory: cwd)
            #expect(g.status == 0 && g.output.contains(out.path), "\(g.output)")
            return try Data(contentsOf: out)
        }
        let here = try generate(from: project, "here")
        #expect(try generate(from: elsewhere, "elsewhere") == here)
        // An older run: config.yaml with the paths as training saw them, relative to the project.
        try relative.canonicalYAML.write(to: run.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
        #expect(try generate(from: elsewhere, "older") == here)
        // And it resumes from its own config.yaml (paths resolved): the same architecture hash.
        #expect(relative.architectureHash == recorded.architectureHash)
    }

    /// An output that cannot be written stops the command before it samples.
    @Test func anUnwritableOutputFailsBeforeSampling() throws {
        let (config, _) = try trainedRun("outputs")
        let start = Date()
        let g = try runProcess(ditBinary(), ["generate", "--checkpoint", config.run.directory.path, "a red circle",
                                             "--output", "/proc/no/grid.png"])
        #expect(g.status != 0 && g.output.contains("--output") && Date().timeIntervalSince(start) < 2, "\(g.output)")
        let folder = try runProcess(ditBinary(), ["generate", "--checkpoint", config.run.directory.path, "a red circle",
                                                  "--output", config.run.directory.path])
        #expect(folder.status != 0 && folder.output.contains("names a folder"), "\(folder.output)")
    }

    @Test func olderRunsFindTheirTrainingDirectory() throws {
        var c = try tinyConfig(URL(fileURLWithPath: "/x"), name: "r", steps: 1)
        (c.run.outputDir, c.data.cache) = ("out/runs", "cache/shapes")
        let dir = try temporaryDirectory()
        let run = dir.appendingPathComponent("project/out/runs/r")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        try c.canonicalYAML.write(to: run.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
        let read = try TrainConfig.ofRun(run)
        #expect(read.data.cache == dir.appendingPathComponent("project/cache/shapes").standardizedFileURL.path)
        #expect(read.run.outputDir == dir.appendingPathComponent("project/out/runs").standardizedFileURL.path)
    }
}

@Suite("Runs are never lost: resumes from elsewhere", .serialized)
struct ResumeFromElsewhereTests {
    /// Resuming another run's checkpoint into a folder that holds checkpoints is a fresh start there: refused, or
    /// with --overwrite the folder's run moves aside first (keep_last would otherwise prune it).
    @Test func aResumeFromAnotherRunDoesNotPruneThisOne() throws {
        let (a, _) = try trainedRun("source-run")
        let (b, _) = try trainedRun("target-run")
        var into = b
        into.training.maxSteps = 6
        let from = try #require(Checkpoint.latest(in: a.run.checkpointsDirectory))
        #expect { try Trainer(config: into, resume: from) } throws: { "\($0)".contains("already holds a trained run") }
        let trainer = try Trainer(config: into, resume: from, overwrite: true)
        trainer.quiet = true
        try trainer.train()
        let runs = b.run.directory.deletingLastPathComponent()
        let aside = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { $0.hasPrefix("target-run.before-") }
        #expect(aside.count == 1)
        #expect(Checkpoint.list(runs.appendingPathComponent("\(aside[0])/checkpoints")).map(\.step) == [2, 4])
    }
}
