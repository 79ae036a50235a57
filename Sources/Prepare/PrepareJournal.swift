import Datasets
import Foundation
import Recipe
import Torch

/// progress.json (progress-R-of-W.json for rank R of W processes): the shards of an unfinished prepare, for the
/// settings and data of `fingerprint`.
struct PrepareJournal: Codable {
    let fingerprint: String
    var shards: [ShardRecord]
}

/// One finished shard: its file ("" when every image in it was skipped) and what it holds.
struct ShardRecord: Codable {
    /// Shard k holds items k·shardSize ..< end.
    let index: Int
    var name: String
    /// The index of the first item after this shard.
    let end: Int
    var records: [CaptionRecord] = []
    var skipped: [SkippedItem] = []
    var truncated = 0
    var sampleShape: [Int] = []
}

/// Tensors of one shard, gathered batch by batch.
struct ShardBuffer {
    var parts: [String: [Tensor]] = [:]
    var isEmpty: Bool { parts.isEmpty }
    mutating func add(_ key: String, _ t: Tensor) { parts[key, default: []].append(t) }
    func tensors() throws -> [String: Tensor] { try parts.mapValues { try Tensor.cat($0, dim: 0) } }
}
