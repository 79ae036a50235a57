import Core
import Foundation
import Torch

/// Reading and writing Hugging Face model directories: a config.json beside safetensors weights, either one
/// file or shards listed in `<weights>.index.json` (as save_pretrained writes large models).
public enum ModelDirectory {
    /// All tensors of `directory/filename` (or of its shards), by name.
    public static func loadWeights(_ directory: URL, filename: String, device: Device = .cpu) throws
        -> [String: Tensor]
    {
        let single = directory.appendingPathComponent(filename)
        if FileManager.default.fileExists(atPath: single.path) {
            return try SafeTensors.load(single.path, device: device)
        }
        let index = directory.appendingPathComponent(filename + ".index.json")
        guard FileManager.default.fileExists(atPath: index.path) else {
            throw ConfigError(file: directory.path, "no \(filename) (nor \(filename).index.json) in the model directory")
        }
        let shards: [String]
        do {
            shards = Set(try JSONDecoder().decode(ShardIndex.self, from: Data(contentsOf: index)).weightMap.values).sorted()
        } catch {
            throw ConfigError(file: index.path, key: "weight_map", "expected an object of tensor name → shard file (\(error))")
        }
        var tensors: [String: Tensor] = [:]
        for shard in shards {
            for (k, v) in try SafeTensors.load(directory.appendingPathComponent(shard).path, device: device) {
                tensors[k] = v
            }
        }
        return tensors
    }

    /// What keeps `directory` from loading as a model whose weights are `weightsName`, checked without reading the
    /// weights: nil when it has a config.json and the weights (one file or an index of shards).
    /// `weightsName` nil: only the config.json is needed (a dry run shapes its data from it).
    public static func problem(_ directory: URL, weightsName: String?) -> String? {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isFolder) else {
            return "no such directory"
        }
        guard isFolder.boolValue else { return "a file, not a model directory" }
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("config.json").path) else {
            return "no config.json: not a model directory"
        }
        guard let weightsName else { return nil }
        let has = { (name: String) in FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) }
        guard has(weightsName) || has(weightsName + ".index.json") else {
            return "no \(weightsName) (nor \(weightsName).index.json): the weights are missing"
        }
        return nil
    }

    /// A model from a diffusers-style directory: `make` builds it from config.json, then the weights load strictly
    /// and it moves to `device`/`dtype`.
    /// `rename` maps a tensor name as saved to the model's (older checkpoints' names).
    public static func loadModel<M: Module>(from directory: URL, weightsName: String, device: Device, dtype: DType,
                                            rename: (String) -> String = { $0 }, make: (URL) throws -> M) throws -> M {
        let model = try make(directory.appendingPathComponent("config.json"))
        let weights = Dictionary(try loadWeights(directory, filename: weightsName).map { (rename($0.key), $0.value) },
                                 uniquingKeysWith: { a, _ in a })
        try load(weights, into: model, source: directory.appendingPathComponent(weightsName).path)
        try model.to(device, dtype: dtype)
        return model
    }

    /// Loads `weights` into `module` strictly; a mismatch names the file and lists every missing, unexpected and
    /// mis-shaped tensor.
    public static func load(_ weights: [String: Tensor], into module: Module, source: String) throws {
        do {
            try module.load(stateDict: weights, strict: true)
        } catch let e as StateDictError {
            throw ConfigError(file: source, "weights do not match the model:\n\(e.report)")
        }
    }

    /// Writes `module`'s state dict as `directory/filename` and `config` as `directory/config.json`, each through
    /// a temporary file and a rename, creating the directory if needed.
    public static func save(_ module: Module, config: JSONValue, to directory: URL, weightsFilename: String,
                            configFilename: String = "config.json") throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let state = Dictionary(module.stateDict(), uniquingKeysWith: { first, _ in first })
        try SafeTensors.save(state, metadata: ["format": "pt"], to: directory.appendingPathComponent(weightsFilename).path)
        try AtomicFile.write(config.serialized(), to: directory.appendingPathComponent(configFilename))
    }
}

/// `<weights>.index.json`: which shard file holds each tensor.
private struct ShardIndex: Decodable {
    let weightMap: [String: String]
    enum CodingKeys: String, CodingKey { case weightMap = "weight_map" }
}
