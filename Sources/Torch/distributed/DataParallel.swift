import Foundation

/// Data-parallel training over a c10d process group, the way torch's DistributedDataParallel does it: every rank
/// holds the same weights (broadcast from rank 0 at the start), computes gradients on its slice of the global
/// batch, and averages them with all-reduces of flattened buckets before clipping and the optimizer step.
public final class DataParallel {
    public let group: any Collectives
    /// DDP's default bucket size: large enough that per-collective latency is paid rarely, small enough that
    /// several buckets are in flight at once.
    public static let bucketBytes = 25 << 20

    public init(group: any Collectives) { self.group = group }

    public var rank: Int { group.rank }
    public var worldSize: Int { group.worldSize }

    /// Rank 0's values of `tensors` (parameters and buffers) on every rank.
    public func broadcast(_ tensors: [Tensor]) throws {
        try withNoGrad {
            for bucket in Self.buckets(tensors) {
                let flat = try Self.flatten(bucket)
                try group.broadcast(flat, from: 0)
                try Self.unflatten(flat, into: bucket)
            }
        }
    }

    /// Replaces each parameter's gradient with its mean over the ranks. All buckets are started before the first is
    /// waited on, so Gloo's threads (or NCCL's stream) overlap their transfers. Parameters without a gradient are
    /// skipped: the ranks run the same graph, so they lack the same ones.
    public func averageGradients(_ parameters: [Tensor]) throws {
        let grads = parameters.compactMap(\.grad)
        try withNoGrad {
            var pending: [(any CollectiveWork, Tensor, [Tensor])] = []
            for bucket in Self.buckets(grads) {
                let flat = try Self.flatten(bucket)
                pending.append((try group.allReduceAsync(flat, op: .sum), flat, bucket))
            }
            for (work, flat, bucket) in pending {
                try work.wait()
                try flat.div_(Double(worldSize))
                try Self.unflatten(flat, into: bucket)
            }
        }
    }

    /// The mean of `values` over the ranks, in one collective, as float64 (a loss averages without rounding) on the
    /// group's device: NCCL refuses a CPU tensor, so the values travel where the group lives and the result stays there.
    public func mean(_ values: Tensor) throws -> Tensor {
        let t = try values.to(group.device, .float64).clone()  // reduced in place: never the caller's tensor
        try group.allReduce(t)
        return try t / Double(worldSize)
    }

    public func barrier() throws { try group.barrier() }

    /// Consecutive tensors of one dtype and device, up to `bucketBytes` each (a larger tensor is a bucket alone).
    static func buckets(_ tensors: [Tensor]) -> [[Tensor]] {
        var result: [[Tensor]] = []
        var current: [Tensor] = []
        var bytes = 0
        for t in tensors {
            let size = t.count * t.dtype.elementSize
            if let first = current.first, first.dtype != t.dtype || first.device != t.device || bytes + size > bucketBytes {
                result.append(current)
                current = []
                bytes = 0
            }
            current.append(t)
            bytes += size
        }
        if !current.isEmpty { result.append(current) }
        return result
    }

    static func flatten(_ bucket: [Tensor]) throws -> Tensor {
        try Tensor.cat(bucket.map { try $0.reshaped([-1]) })
    }

    static func unflatten(_ flat: Tensor, into bucket: [Tensor]) throws {
        for (t, part) in zip(bucket, try flat.split(sizes: bucket.map(\.count))) {
            try t.copy_(try part.view(t.shape))
        }
    }
}
