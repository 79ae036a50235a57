import Core
import Foundation
import Models
import Recipe
import Torch

extension Trainer {
    func lastGoodCheckpoint() -> String {
        Checkpoint.latest(in: checkpointsDirectory).map { "The last good checkpoint is \($0.path) (resume with --resume)." }
            ?? "No checkpoint was written yet."
    }

    /// Rank 0 writes the checkpoint while the others wait for it; every rank returns its path.
    func checkpoint() throws -> URL {
        let url = isMain ? try checkpointOrExplain() : nil
        try parallel?.barrier()
        return url ?? checkpointsDirectory.appendingPathComponent("step-\(state.step)")
    }

    /// A failed checkpoint write (disk full, quota) stops the run with what survived: the previous checkpoint.
    func checkpointOrExplain() throws -> URL {
        do { return try saveCheckpoint() } catch {
            let last = Checkpoint.latest(in: checkpointsDirectory)
            throw TrainingError("the checkpoint at step \(state.step) could not be written: \(error). Training stopped; "
                + (last.map { "the previous checkpoint \($0.path) is intact (resume with --resume)." }
                   ?? "no earlier checkpoint exists."))
        }
    }

    /// Bytes of one checkpoint: weights, EMA weights and AdamW's two moments per trainable parameter (plus headers).
    public var checkpointBytes: Int64 {
        let tensorBytes = { (t: Tensor) in Int64(t.count * t.dtype.elementSize) }
        let weights = models.stateDict().reduce(Int64(0)) { $0 + tensorBytes($1.1) }
        let moments = optimizer.parameters.reduce(Int64(0)) { $0 + 2 * tensorBytes($1.1) }
        let headers = Int64(optimizer.parameters.count) * 200 + 64 * 1024
        return weights * (ema == nil ? 1 : 2) + moments + headers
    }

    /// Disk space the rest of the run adds to the checkpoints folder at its peak: up to `keep_last` checkpoints
    /// plus the one being written, less those already there.
    func checkpointSpaceNeeded() -> Int64 {
        let every = config.run.checkpointEvery
        let remaining = every > 0
            ? totalSteps / every - state.step / every + (totalSteps % every == 0 ? 0 : 1)
            : 1
        let existing = Checkpoint.list(checkpointsDirectory).count
        let peak = min(existing + remaining, max(1, config.run.keepLast) + 1)
        return Int64(max(min(remaining, 1), peak - existing)) * checkpointBytes
    }

    /// The hashes older checkpoints of this run may carry (paths as first written), for restore and keep_last.
    var legacyHashes: Set<String> {
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        return config.legacyArchitectureHashes(relativeTo: [cwd, runDirectory.deletingLastPathComponent().deletingLastPathComponent()])
    }

    @discardableResult
    public func saveCheckpoint() throws -> URL {
        var s = state
        s.rngState = try Data(Generator.globalState().bytes()).base64EncodedString()
        if case .cuda(let index) = device {
            s.cudaRngState = try Data(Generator.cudaState(device: index).bytes()).base64EncodedString()
        }
        s.gradScaler = try scaler?.state
        return try Checkpoint.save(to: checkpointsDirectory, step: state.step,
                                   model: Dictionary(models.stateDict(), uniquingKeysWith: { a, _ in a }),
                                   ema: ema?.stateDict(), optimizer: optimizer.stateDict(), state: s,
                                   keepLast: config.run.keepLast, runHashes: legacyHashes,
                                   afterModelWritten: checkpointHook)
    }

    func restore(from url: URL) throws {
        let loaded = try Checkpoint.load(url)
        // Checkpoints written before paths were left out of the hash carry the hash with paths as written.
        guard legacyHashes.union([config.architectureHash]).contains(loaded.state.configHash) else {
            throw ConfigError(file: url.path, key: "config_hash",
                              "the checkpoint was trained with another model, data or noise setup (hash \(loaded.state.configHash), "
                                + "this config \(config.architectureHash)); only run, optimizer and training settings may change on resume")
        }
        try ModelDirectory.load(loaded.model, into: models, source: url.appendingPathComponent("model.safetensors").path)
        try optimizer.load(stateDict: loaded.optimizer)
        // A run that turns EMA on at resume starts the average at the restored weights, not at the random init.
        if let ema { try ema.load(stateDict: loaded.ema ?? Dictionary(models.namedParameters(), uniquingKeysWith: { a, _ in a })) }
        guard let rng = Data(base64Encoded: loaded.state.rngState) else {
            throw FileError(path: url.path, "trainer_state.json: rng_state is not base64")
        }
        try Generator.setGlobalState(try Tensor([UInt8](rng)))
        if case .cuda(let index) = device, let saved = loaded.state.cudaRngState.flatMap({ Data(base64Encoded: $0) }) {
            try Generator.setCUDAState(try Tensor([UInt8](saved)), device: index)
        }
        let identity = try data.identity()
        if let trainedOn = loaded.state.cacheIdentity, trainedOn != identity {
            throw ConfigError(file: url.path, key: "cache_identity", "the checkpoint was trained on other data than "
                + "the cache at data.cache \(config.data.cache) holds (its captions or samples differ); a resume goes on "
                + "with the same data. To train these weights on new data, start a new run with --init-from")
        }
        if let saved = loaded.state.gradScaler { scaler?.load(saved) }
        state = loaded.state
        (state.configHash, state.cacheIdentity) = (config.architectureHash, identity)
        // The epoch's permutation, at the saved position.
        order = try epochOrder(state.epoch)
    }
}
