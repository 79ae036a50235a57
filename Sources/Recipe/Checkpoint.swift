import Core
import Foundation
import Torch

/// What a checkpoint remembers besides weights: enough to continue a run bit for bit.
public struct TrainerState: Codable, Equatable, Sendable {
    public var step: Int
    public var epoch: Int
    /// Position within the epoch's shuffled order.
    public var position: Int
    /// The global CPU generator's state, base64.
    public var rngState: String
    /// On CUDA runs, the training device's generator too (noise, timesteps and dropout are drawn there), base64.
    public var cudaRngState: String?
    public var configHash: String
    /// The cache the run trains on (`CachedDataset.identity()`); nil in checkpoints written before it was recorded.
    public var cacheIdentity: String?
    /// The last step's loss; nil when it was not finite (an fp16 step the scaler skipped), which JSON cannot hold.
    public var loss: Double? {
        didSet { if let value = loss, !value.isFinite { loss = nil } }
    }
    /// fp16 runs: the loss scaler's scale and growth tracker.
    public var gradScaler: GradScaler.State?

    /// The state of a run at `step` (random states are filled in when a checkpoint is written).
    public init(step: Int = 0, epoch: Int = 0, position: Int = 0, rngState: String = "", configHash: String) {
        (self.step, self.epoch, self.position, self.rngState, self.configHash) = (step, epoch, position, rngState, configHash)
    }

    enum CodingKeys: String, CodingKey {
        case step, epoch, position, loss
        case rngState = "rng_state", cudaRngState = "cuda_rng_state", configHash = "config_hash"
        case gradScaler = "grad_scaler", cacheIdentity = "cache_identity"
    }
}

/// Checkpoint directories `step-N/` (model.safetensors, ema.safetensors, optimizer.safetensors,
/// trainer_state.json) inside a run's checkpoints folder. Each is written complete into a hidden temporary
/// directory and renamed into place, so a crash at any moment leaves either the old set or the new one.
public enum Checkpoint {
    public static let stateFile = "trainer_state.json"

    public static func save(to folder: URL, step: Int, model: [String: Tensor], ema: [String: Tensor]?,
                            optimizer: [String: Tensor], state: TrainerState, keepLast: Int,
                            runHashes: Set<String> = [], afterModelWritten: (() throws -> Void)? = nil) throws -> URL {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // Leftovers of a writer that was killed mid-checkpoint (one trainer writes a run at a time).
        AtomicFile.removeLeftovers(in: folder, markers: [".tmp-", ".old-"])
        let final = folder.appendingPathComponent("step-\(step)")
        let temp = folder.appendingPathComponent(".step-\(step).tmp-\(getpid())")
        try? FileManager.default.removeItem(at: temp)
        try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
        do {
            try SafeTensors.save(model, metadata: ["format": "pt", "step": "\(step)"], to: temp.appendingPathComponent("model.safetensors").path)
            // A test's way to find a process in the middle of a checkpoint (a crash at the worst moment).
            try afterModelWritten?()
            if let ema { try SafeTensors.save(ema, metadata: ["format": "pt", "step": "\(step)"], to: temp.appendingPathComponent("ema.safetensors").path) }
            try SafeTensors.save(optimizer, metadata: ["step": "\(step)"], to: temp.appendingPathComponent("optimizer.safetensors").path)
            try AtomicFile.writeJSON(state, to: temp.appendingPathComponent(stateFile))
            // Replacing an existing step-N (a rerun of the same step) goes through a side name.
            if FileManager.default.fileExists(atPath: final.path) {
                let old = folder.appendingPathComponent(".step-\(step).old-\(getpid())")
                try FileManager.default.moveItem(at: final, to: old)
                try FileManager.default.moveItem(at: temp, to: final)
                try? FileManager.default.removeItem(at: old)
            } else {
                guard rename(temp.path, final.path) == 0 else {
                    throw FileError(path: final.path, "cannot move the checkpoint into place (errno \(errno))")
                }
            }
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw error
        }
        // keep_last prunes only this run's own earlier checkpoints (same architecture hash, `runHashes` adding the
        // older spellings a resumed run may carry, and the same data): never another run's, never a later one.
        let ours = list(folder).filter { c in
            guard c.step <= step, let other = Checkpoint.state(of: c.url) else { return false }
            let sameData = other.cacheIdentity == nil || state.cacheIdentity == nil || other.cacheIdentity == state.cacheIdentity
            return sameData && runHashes.union([state.configHash]).contains(other.configHash)
        }
        for stale in ours.dropLast(max(1, keepLast)) { try? FileManager.default.removeItem(at: stale.url) }
        return final
    }

    /// Complete checkpoints in `folder`, oldest first (temporary and half-written ones are ignored).
    public static func list(_ folder: URL) -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix("step-"), let step = Int(name.dropFirst(5)) else { return nil }
            let url = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent(stateFile).path) else { return nil }
            return (step, url)
        }.sorted { $0.0 < $1.0 }.map { (step: $0.0, url: $0.1) }
    }

    public static func latest(in folder: URL) -> URL? { list(folder).last?.url }

    /// The trainer state of the checkpoint at `url`, nil when it cannot be read.
    public static func state(of url: URL) -> TrainerState? {
        FileManager.default.contents(atPath: url.appendingPathComponent(stateFile).path)
            .flatMap { try? JSONDecoder().decode(TrainerState.self, from: $0) }
    }

    /// `path` as a checkpoint: a step directory itself, or a run directory's latest checkpoint; nil when it is neither.
    public static func resolve(_ path: URL) -> URL? {
        if FileManager.default.fileExists(atPath: path.appendingPathComponent(stateFile).path) { return path }
        return latest(in: path.appendingPathComponent("checkpoints"))
    }

    public struct Loaded {
        public let model: [String: Tensor]
        public let ema: [String: Tensor]?
        public let optimizer: [String: Tensor]
        public let state: TrainerState
    }

    public static func load(_ dir: URL) throws -> Loaded {
        let stateURL = dir.appendingPathComponent(stateFile)
        guard let data = FileManager.default.contents(atPath: stateURL.path) else {
            throw FileError(path: dir.path, "not a checkpoint (no \(stateFile))")
        }
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw FileError(path: stateURL.path, "unreadable trainer state: \(error)")
        }
        let emaURL = dir.appendingPathComponent("ema.safetensors")
        return Loaded(model: try SafeTensors.load(dir.appendingPathComponent("model.safetensors").path),
                      ema: FileManager.default.fileExists(atPath: emaURL.path) ? try SafeTensors.load(emaURL.path) : nil,
                      optimizer: try SafeTensors.load(dir.appendingPathComponent("optimizer.safetensors").path),
                      state: state)
    }
}
