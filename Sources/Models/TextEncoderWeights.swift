import Core
import Foundation
import Torch

/// Loading transformers checkpoints into our text encoders: tensor names may carry a wrapper prefix
/// (`text_model.` from CLIPTextModel, `bert.` from task heads) and old checkpoints store buffers that current
/// transformers ignores (`position_ids`); `otherParts` are tensors of a larger model that this one is a part of (the
/// vision tower of a full CLIPModel when only its text encoder is wanted).
public enum TextEncoderWeights {
    public static let weightsName = "model.safetensors"

    static func load(into module: Module, from directory: URL, prefixes: [String], otherParts: [String] = [],
                     device: Device, dtype: DType) throws {
        let source = directory.appendingPathComponent(weightsName).path
        var weights = try ModelDirectory.loadWeights(directory, filename: weightsName)
        let own = Set(module.stateDict().map(\.0))
        var renamed: [String: Tensor] = [:]
        for (key, tensor) in weights {
            if key.hasSuffix("position_ids") || otherParts.contains(where: key.hasPrefix) { continue }
            // The name as saved, without a wrapper prefix, or with the one our module uses.
            let candidates = [key] + prefixes.filter { key.hasPrefix($0) }.map { String(key.dropFirst($0.count)) }
                + prefixes.map { $0 + key }
            renamed[candidates.first(where: own.contains) ?? key] = tensor
        }
        weights = renamed
        try ModelDirectory.load(weights, into: module, source: source)
        try module.to(device, dtype: dtype)
    }
}

/// `input_ids` [B, L] as int64 and the positions [1, L] they sit at, checked against the encoder's context length.
func tokenPositions(_ inputIds: Tensor, maxPositionEmbeddings: Int) throws -> (ids: Tensor, positions: Tensor) {
    guard inputIds.rank == 2 else { throw ModelError("input_ids must be [batch, length], got \(inputIds.shape)") }
    let n = inputIds.size(1)
    guard n <= maxPositionEmbeddings else {
        throw ModelError("sequence length \(n) exceeds max_position_embeddings \(maxPositionEmbeddings)")
    }
    let ids = try inputIds.to(.int64)
    return (ids, try Tensor.arange(0, Double(n), device: ids.device).unsqueezed(0))
}
