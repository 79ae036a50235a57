import CTorch

/// A c10d process group (torch.distributed's): `worldSize` processes that met at a TCPStore hosted by rank 0, with
/// Gloo collectives on CPU tensors or NCCL on CUDA ones. Every collective must be called by every rank, in the same
/// order; a peer that dies or a collective that outlasts `timeout` becomes a thrown `TorchError` carrying c10d's
/// message, not a hang.
public final class ProcessGroup: Collectives, @unchecked Sendable {
    public enum Backend: String, Sendable, CaseIterable {
        case gloo, nccl

        var code: Int32 { self == .gloo ? Int32(CT_BACKEND_GLOO) : Int32(CT_BACKEND_NCCL) }
        /// Whether this build of torch has the backend (NCCL only in CUDA builds).
        public var isAvailable: Bool { ct_backend_available(code) }
    }

    public enum ReduceOp: Sendable { case sum, max }

    /// A collective in flight; `wait()` returns when it finished on this rank.
    public final class Work: CollectiveWork {
        private var handle: OpaquePointer?
        init(_ handle: OpaquePointer) { self.handle = handle }
        deinit { if let handle { _ = ct_work_wait(handle) } }

        public func wait() throws {
            guard let h = handle else { return }
            handle = nil
            try check(ct_work_wait(h))
        }
    }

    let handle: OpaquePointer
    public let rank: Int
    public let worldSize: Int
    public let backend: Backend
    public let device: Device

    /// Joins the group: rank 0 hosts the store at `masterAddress:masterPort`, the others connect to it; returns once
    /// all `worldSize` ranks have arrived (or throws after `timeout` seconds).
    public init(masterAddress: String, masterPort: Int, rank: Int, worldSize: Int, backend: Backend,
                device: Device = .cpu, timeout: Double) throws {
        guard backend.isAvailable else {
            throw TorchError("the \(backend.rawValue) backend is not in this torch build (NCCL needs a CUDA build of torch); use gloo")
        }
        guard timeout > 0, timeout.isFinite else { throw TorchError("a process group timeout must be positive, got \(timeout)") }
        var index: Int32 = 0
        if case .cuda(let i) = device { index = Int32(i) }
        guard let h = ct_process_group_new(masterAddress, Int32(clamping: masterPort), Int32(clamping: rank),
                                           Int32(clamping: worldSize), backend.code, index,
                                           Int64(timeout * 1000)) else { throw TorchError.last() }
        handle = h
        self.rank = rank
        self.worldSize = worldSize
        self.backend = backend
        self.device = device
    }

    deinit { ct_process_group_free(handle) }

    /// Starts an in-place all-reduce of `tensor` (contiguous) over every rank.
    public func allReduceAsync(_ tensor: Tensor, op: ReduceOp = .sum) throws -> any CollectiveWork {
        guard let w = ct_all_reduce(handle, tensor.handle, op == .sum ? Int32(CT_REDUCE_SUM) : Int32(CT_REDUCE_MAX)) else {
            throw TorchError.last()
        }
        return Work(w)
    }

    /// Overwrites `tensor` on every rank with rank `root`'s.
    public func broadcast(_ tensor: Tensor, from root: Int = 0) throws {
        guard let w = ct_broadcast(handle, tensor.handle, Int32(clamping: root)) else { throw TorchError.last() }
        try Work(w).wait()
    }

    /// Returns when every rank has called it.
    public func barrier() throws {
        guard let w = ct_barrier(handle) else { throw TorchError.last() }
        try Work(w).wait()
    }
}
