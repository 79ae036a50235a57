/// What data-parallel training asks of a process group: c10d's `ProcessGroup`, or a test group that checks NCCL's
/// rules on a machine without a GPU.
public protocol Collectives: AnyObject {
    var rank: Int { get }
    var worldSize: Int { get }
    /// Where the collectives' tensors must live: NCCL reduces only tensors on the group's CUDA device; Gloo takes CPU
    /// tensors. Callers create their buffers here.
    var device: Device { get }
    /// Starts an in-place all-reduce of `tensor` (contiguous) over every rank; `wait()` on the result.
    func allReduceAsync(_ tensor: Tensor, op: ProcessGroup.ReduceOp) throws -> any CollectiveWork
    /// Overwrites `tensor` on every rank with rank `root`'s.
    func broadcast(_ tensor: Tensor, from root: Int) throws
    /// Returns when every rank has called it.
    func barrier() throws
}

/// A collective in flight.
public protocol CollectiveWork {
    func wait() throws
}

extension Collectives {
    /// In-place all-reduce of `tensor`: afterwards every rank holds the same sum (or maximum).
    public func allReduce(_ tensor: Tensor, op: ProcessGroup.ReduceOp = .sum) throws {
        try allReduceAsync(tensor, op: op).wait()
    }
}
