import Foundation
import TestSupport
import Testing
import Torch

/// Runs the built `dit` executable (it sits beside the test bundle in the build folder).
func ditBinary() -> URL {
    let beside = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("dit")
    return FileManager.default.isExecutableFile(atPath: beside.path) ? beside : Bundle.main.bundleURL.appendingPathComponent("dit")
}

func runDit(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let run = try runProcess(ditBinary(), arguments)
    return (run.status, run.output)
}

@Suite("dit command line", .serialized)
struct CLITests {
    @Test func infoPrintsVersionsDevicesAndThreads() throws {
        let (status, output) = try runDit(["info"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("torch        2.") && output.contains("(loaded; DiTKit was compiled against 2."))
        #expect(output.contains("cuda build   none (CPU-only torch)") || output.contains("cuda build   CUDA "))
        #expect(output.contains("devices      cpu"))
        let pathLine = try #require(output.split(separator: "\n").first { $0.hasPrefix("torch path") })
        let path = pathLine.dropFirst("torch path".count).trimmingCharacters(in: .whitespaces)
        #expect(FileManager.default.fileExists(atPath: path + "/libtorch_cpu.so"), "\(path)")
        #expect(output.range(of: #"threads\s+\d+"#, options: .regularExpression) != nil)
    }

    @Test func smokeTrainsAnMLPAndTheLossGoesDown() throws {
        let (status, output) = try runDit(["smoke", "--steps", "80"])
        #expect(status == 0, "\(output)")
        let summary = try #require(output.split(separator: "\n").last { $0.hasPrefix("loss ") })
        let numbers = summary.split(separator: " ").compactMap { Double($0) }
        #expect(numbers.count == 2 && numbers[1] < numbers[0] * 0.5, "\(summary)")
    }

    /// A CUDA device on a CPU-only torch stops every command that would use it within 5 s, before any data or model
    /// is loaded (the cache and checkpoint named here do not even exist), naming the torch found and the fix.
    @Test func aCUDADeviceOnACPUTorchStopsAtOnce() throws {
        guard !Runtime.cudaBuilt else { return }  // a CUDA torch answers differently; this machine's is CPU-only
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = try String(contentsOf: packageRoot.appendingPathComponent("configs/tiny-cpu.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "device: cpu", with: "device: cuda")
            .replacingOccurrences(of: "cache: cache/shapes", with: "cache: \(dir.path)/no-cache")
        let config = dir.appendingPathComponent("cuda.yaml")
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        let torch = TorchInstallation.current
        for arguments in [["train", "--config", config.path],
                          ["prepare", dir.path, "--config", config.path],
                          ["generate", "--checkpoint", dir.appendingPathComponent("no-run").path, "--device", "cuda", "a cat"]] {
            let started = Date()
            let (status, output) = try runDit(arguments)
            #expect(Date().timeIntervalSince(started) < 5, "\(arguments[0]) took too long")
            #expect(status != 0 && output.contains("needs a CUDA build of torch") && output.contains(torch.path)
                    && output.contains(torch.version) && output.contains("run.device: cpu"), "\(arguments[0]): \(output)")
        }
    }

    @Test func badArgumentsGiveAClearErrorNotACrash() throws {
        let (status, output) = try runDit(["smoke", "--steps", "many"])
        #expect(status != 0)
        #expect(output.contains("steps"), "\(output)")
    }
}

@Suite("dit forward", .serialized)
struct ForwardCLITests {
    static let cases: [(String, [String])] = [
        ("pixart_tiny", ["output"]), ("pixart_conditions", ["output"]),
        ("vae_tiny", ["latent_mean", "latent_logvar", "decoded"]),
        ("clip_text_tiny", ["last_hidden_state", "pooler_output"]), ("bert_tiny", ["last_hidden_state", "pooler_output"]),
    ]

    @Test(arguments: cases.map(\.0))
    func writesTheReferenceOutputs(_ name: String) throws {
        let dir = fixturesDirectory.appendingPathComponent("models/\(name)")
        let tmp = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let out = tmp.appendingPathComponent("out.safetensors").path
        let (status, log) = try runDit(["forward", dir.appendingPathComponent("model").path, "--inputs",
                                        dir.appendingPathComponent("inputs.safetensors").path, "--output", out])
        #expect(status == 0, "\(log)")
        let ours = try SafeTensors.load(out)
        let reference = try SafeTensors.load(dir.appendingPathComponent("outputs.safetensors").path)
        for key in ForwardCLITests.cases.first(where: { $0.0 == name })!.1 {
            try expectClose(try #require(ours[key], "\(key) not written"), reference[key], "\(name) \(key)")
        }
    }

    @Test func badInputsGiveClearErrors() throws {
        let dir = fixturesDirectory.appendingPathComponent("models/pixart_tiny")
        let tmp = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let wrong = tmp.appendingPathComponent("wrong.safetensors")
        try SafeTensors.save(["latents": try Tensor.zeros([1])], to: wrong.path)
        let out = tmp.appendingPathComponent("out.safetensors").path
        var (status, log) = try runDit(["forward", dir.appendingPathComponent("model").path, "--inputs", wrong.path, "--output", out])
        #expect(status != 0 && log.contains("missing hidden_states, timestep") && log.contains("unknown latents"), "\(log)")
        #expect(!FileManager.default.fileExists(atPath: out))
        (status, log) = try runDit(["forward", tmp.path, "--inputs", wrong.path, "--output", out])
        #expect(status != 0 && log.contains("config.json"), "\(log)")
    }
}

@Suite("Seed-run benchmark script")
struct SeedRunTests {
    /// benchmarks/seed_run.py in its CPU smoke mode: JPEGs → prepare with a VAE and MiniLM → train → generate through
    /// the `dit` binary, one JSON line per stage.
    @Test func smokeModeRunsEveryStage() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("seed.jsonl")
        _ = try runPython("import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')",
                          arguments: [packageRoot.appendingPathComponent("benchmarks/seed_run.py").path, "--dit",
                                      ditBinary().path, "--smoke", "--out", out.path,
                                      "--work", dir.appendingPathComponent("work").path])
        let stages = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
        #expect(stages.compactMap { $0["stage"] as? String }
            == ["setup", "prepare", "train", "resume", "generate", "export", "done"])
        for s in stages.dropFirst().dropLast() {
            #expect(s["exit"] as? Int == 0, "\(s)")
            if s["stage"] as? String != "export" { #expect((s["images_per_second"] as? Double ?? 0) > 0, "\(s)") }
        }
        // The trimmed seed run: a grid and a checkpoint at its last step, 10 more after the resume, the allocator's
        // peak (what the GPU check holds to a card's budget), and a diffusers pipeline.
        let done = try #require(stages.last)
        #expect(done["grid"] as? Bool == true && (done["peak_reserved_mib"] as? Double ?? 0) > 0, "\(done)")
        #expect((done["checkpoints"] as? [String])?.contains("step-12") == true, "\(done)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("work/grid.png").path))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("work/export/model_index.json").path))
    }
}
