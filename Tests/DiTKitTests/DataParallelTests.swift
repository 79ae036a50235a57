@testable import Prepare
@testable import Recipe
@testable import Training
import Foundation
import TestSupport
import Testing
import Torch

/// The tiny trainer config as a file for `dit`, with one compute thread so that 1 and 2 processes run the same
/// kernels, and a rendezvous timeout short enough for a test.
func dataParallelConfig(_ dir: URL, name: String, steps: Int, accumulation: Int = 1, checkpointEvery: Int = 0) throws -> URL {
    var c = try tinyConfig(dir, name: name, steps: steps, checkpointEvery: checkpointEvery)
    c.run.threads = 1
    c.run.distributedTimeout = 60
    c.run.samplePrompts = []
    c.training.gradientAccumulationSteps = accumulation
    return try freshRunConfigFile(c, in: dir)
}

/// Largest |a − b| over the weights of two checkpoints, split into attention key biases and the rest.
///
/// A key bias adds the same q·b to every logit of a softmax row, so its true gradient is zero; what backward computes
/// is rounding noise (~1e-10) whose value depends on the order of the sums, and AdamW divides it by its own running
/// size. Any two summation orders (one process or two; PyTorch's DDP the same) give key biases that differ by about
/// lr × 1e-2 a step, while every weight with a real gradient agrees to float32 rounding.
func weightDifference(_ a: URL, _ b: URL) throws -> (keyBias: Double, others: Double, count: Int) {
    let x = try SafeTensors.load(a.appendingPathComponent("model.safetensors").path)
    let y = try SafeTensors.load(b.appendingPathComponent("model.safetensors").path)
    #expect(Set(x.keys) == Set(y.keys))
    var keyBias = 0.0, others = 0.0
    for (name, t) in x {
        let d = try maxAbsDiff(t, try #require(y[name]))
        if name.hasSuffix("to_k.bias") || name.hasSuffix("k_proj.bias") { keyBias = max(keyBias, d) } else { others = max(others, d) }
    }
    return (keyBias, others, x.count)
}

func launch(_ nproc: Int, _ arguments: [String]) throws -> (status: Int32, output: String) {
    try runDit(["launch", "--nproc-per-node", String(nproc), "--"] + arguments)
}

@Suite("Data-parallel training (c10d Gloo)", .serialized)
struct DataParallelTests {
    /// 2 processes × 4 images equal 1 process × 8 after 5 optimizer steps, with the jointly trained text encoder,
    /// with and without gradient accumulation.
    @Test(arguments: [1, 2])
    func twoProcessesTrainLikeOneWithTheSameGlobalBatch(accumulation: Int) throws {
        let dir = try trainerFixture.get()
        let one = try dataParallelConfig(dir, name: "dp-one-\(accumulation)", steps: 5, accumulation: accumulation)
        let two = try dataParallelConfig(dir, name: "dp-two-\(accumulation)", steps: 5, accumulation: accumulation)
        let single = try runDit(["train", "--config", one.path])
        #expect(single.status == 0, "\(single.output)")
        let parallel = try launch(2, ["train", "--config", two.path])
        #expect(parallel.status == 0, "\(parallel.output)")
        #expect(parallel.output.contains("× 2 processes (global batch 8)"))
        if accumulation == 1 {
            // One launched worker forms a group of one and trains the same weights too.
            let alone = try dataParallelConfig(dir, name: "dp-alone", steps: 5)
            let launched = try launch(1, ["train", "--config", alone.path])
            #expect(launched.status == 0 && launched.output.contains("× 1 processes"), "\(launched.output)")
            let a = try weightDifference(dir.appendingPathComponent("runs/dp-one-1/checkpoints/step-5"),
                                         dir.appendingPathComponent("runs/dp-alone/checkpoints/step-5"))
            #expect(a.others == 0 && a.keyBias == 0, "one launched process is the single-process run exactly")
        }
        // Only rank 0 talks: one progress line per step.
        #expect(parallel.output.components(separatedBy: "step 5/5").count == 2, "\(parallel.output)")
        let runs = dir.appendingPathComponent("runs")
        let d = try weightDifference(runs.appendingPathComponent("dp-one-\(accumulation)/checkpoints/step-5"),
                                     runs.appendingPathComponent("dp-two-\(accumulation)/checkpoints/step-5"))
        #expect(d.count > 50)  // the DiT and the text encoder
        #expect(d.others <= 1e-6, "max |Δw| \(d.others)")
        #expect(d.keyBias <= 1e-4, "key biases \(d.keyBias)")
        // The logged losses agree too (the mean over the ranks is the global batch's loss).
        let loss = { (output: String) in
            output.split(separator: "\n").first { $0.hasPrefix("done: final loss") }?.split(separator: ";").first
        }
        #expect(loss(single.output) != nil && loss(single.output) == loss(parallel.output))
    }

    /// Data-parallel steps do not wait either: the gradient all-reduce is waited on without reading a value, and a
    /// report step reads once (the loss, the norm and the ranks' stop flags averaged in one collective).
    @Test func aDataParallelStepNeverWaits() throws {
        let dir = try trainerFixture.get()
        let config = try dataParallelConfig(dir, name: "dp-syncs", steps: 5)
        let run = try launch(2, ["train", "--config", config.path, "--dry-run"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("host syncs per step     0 (a logging or checkpoint step: 1)"), "\(run.output)")
    }

    /// A checkpoint of a 2-process run resumes with 1 process to the weights of the uninterrupted 2-process run: the
    /// saved state is per global batch.
    @Test func aTwoProcessCheckpointResumesWithOneProcess() throws {
        let dir = try trainerFixture.get()
        let config = try dataParallelConfig(dir, name: "dp-resume", steps: 5, checkpointEvery: 3)
        let parallel = try launch(2, ["train", "--config", config.path])
        #expect(parallel.status == 0, "\(parallel.output)")
        let checkpoints = dir.appendingPathComponent("runs/dp-resume/checkpoints")
        let uninterrupted = dir.appendingPathComponent("dp-resume-uninterrupted")
        try? FileManager.default.removeItem(at: uninterrupted)
        try FileManager.default.copyItem(at: checkpoints.appendingPathComponent("step-5"), to: uninterrupted)
        let resumed = try runDit(["train", "--config", config.path, "--resume", checkpoints.appendingPathComponent("step-3").path,
                                  "--overwrite"])  // step-5 came later: it moves aside
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.output.contains("at step 3"))
        let d = try weightDifference(uninterrupted, checkpoints.appendingPathComponent("step-5"))
        #expect(d.others <= 1e-6, "max |Δw| \(d.others)")
        #expect(d.keyBias <= 1e-4, "key biases \(d.keyBias)")
    }

    /// A worker killed mid-run: `dit launch` names it, stops the other worker within its stop timeout, and every
    /// checkpoint left behind is complete.
    @Test func launchStopsTheRunWhenAWorkerDies() throws {
        let dir = try trainerFixture.get()
        let config = try dataParallelConfig(dir, name: "dp-kill", steps: 100_000, checkpointEvery: 10)
        let process = try RunningProcess(ditBinary(), ["launch", "--nproc-per-node", "2", "--stop-timeout", "10", "--",
                                                       "train", "--config", config.path])
        let checkpoints = dir.appendingPathComponent("runs/dp-kill/checkpoints")
        let started = Date()
        while Checkpoint.list(checkpoints).count < 2 && process.isRunning && Date().timeIntervalSince(started) < 120 {
            usleep(50_000)
        }
        let rank1 = try #require(workers(of: process.pid).first { $0.rank == 1 }, "no worker of rank 1")
        kill(rank1.pid, SIGKILL)
        let killed = Date()
        let ended = process.finish(), output = ended.output
        #expect(Date().timeIntervalSince(killed) < 10 + 5, "the launcher took too long to stop")
        #expect(ended.status != 0)
        #expect(output.contains("rank 1 (pid \(rank1.pid)) was killed by signal 9"), "\(output)")
        #expect(workers(of: process.pid).isEmpty)
        let left = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path)
        #expect(!left.contains { $0.hasPrefix(".") }, "temporary checkpoint files left: \(left)")
        for (_, url) in Checkpoint.list(checkpoints) { _ = try Checkpoint.load(url) }
    }

    @Test func launchVariablesAreReadLikeTorchrun() throws {
        let alone = try DistributedEnvironment(environment: [:])
        #expect(!alone.isDistributed && alone.isMain)
        let env = try DistributedEnvironment(environment: ["WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1",
                                                           "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "node0",
                                                           "MASTER_PORT": "29400"])
        #expect(env.rank == 3 && env.localRank == 1 && env.worldSize == 4 && env.masterAddress == "node0")
        #expect(env.device(for: .cuda(0)) == .cuda(1) && env.device(for: .cpu) == .cpu)
        #expect(throws: DistributedError.self) { try DistributedEnvironment(environment: ["WORLD_SIZE": "2", "RANK": "0"]) }
        // Launched alone (torchrun --nproc-per-node 1): still a process group, so one GPU runs the NCCL path.
        let one = try DistributedEnvironment(environment: ["WORLD_SIZE": "1", "RANK": "0", "MASTER_ADDR": "127.0.0.1",
                                                           "MASTER_PORT": "29400"])
        #expect(one.isDistributed && one.isMain && one.device(for: .cuda(3)) == .cuda(0))
        do {
            _ = try DistributedEnvironment(environment: ["WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "a", "MASTER_PORT": "1"])
            Issue.record("rank 2 of 2 was accepted")
        } catch {
            #expect("\(error)".contains("RANK=2"))
        }
    }

    /// A collective whose peer never comes: the rendezvous gives up after the timeout with c10d's message.
    @Test func aMissingPeerTimesOutWithAnError() throws {
        let port = try WorkerLauncher.freePort()
        let started = Date()
        #expect(throws: TorchError.self) {
            _ = try ProcessGroup(masterAddress: "127.0.0.1", masterPort: port, rank: 0, worldSize: 2, backend: .gloo, timeout: 2)
        }
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(!ProcessGroup.Backend.nccl.isAvailable || Runtime.cudaAvailable)
    }
}

/// The `dit` workers a launcher started, with their RANK from /proc.
func workers(of launcher: pid_t) -> [(pid: pid_t, rank: Int)] {
    let all = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return all.compactMap { name -> (pid_t, Int)? in
        guard let pid = pid_t(name),
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        guard fields.count > 1, pid_t(fields[1]) == launcher, fields[0] != "Z",
              let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        let rank = environ.split(separator: 0).lazy.map { String(decoding: $0, as: UTF8.self) }
            .first { $0.hasPrefix("RANK=") }.flatMap { Int($0.dropFirst(5)) }
        return rank.map { (pid, $0) }
    }
}

@Suite("Data-parallel prepare", .serialized)
struct DataParallelPrepareTests {
    /// Two workers split the shards of `dit prepare`; the cache is byte for byte the one a single process writes.
    @Test func twoWorkersWriteTheSameCacheAsOne() throws {
        let dir = try trainerFixture.get()
        let config = try dataParallelConfig(dir, name: "dp-prepare", steps: 1)
        let shapes = dir.appendingPathComponent("shapes").path
        var caches: [URL] = []
        for workers in [1, 2] {
            let cache = dir.appendingPathComponent("dp-cache-\(workers)")
            try? FileManager.default.removeItem(at: cache)
            let arguments = ["prepare", shapes, "--config", config.path, "--output", cache.path, "--shard-size", "10"]
            let result = workers == 1 ? try runDit(arguments) : try launch(workers, arguments)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.components(separatedBy: "cached 48 images").count == 2, "\(result.output)")
            caches.append(cache)
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: caches[0].path).sorted()
        #expect(files.filter { $0.hasPrefix("shard-") }.count == 5)
        #expect(try FileManager.default.contentsOfDirectory(atPath: caches[1].path).sorted() == files)
        for name in files {
            let a = FileManager.default.contents(atPath: caches[0].appendingPathComponent(name).path)
            let b = FileManager.default.contents(atPath: caches[1].appendingPathComponent(name).path)
            #expect(a != nil && a == b, "\(name) differs")
        }
    }
}
