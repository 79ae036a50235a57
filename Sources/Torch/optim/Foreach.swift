import CTorch

/// libtorch's multi-tensor kernels (torch._foreach_*): one call over a list of tensors instead of one kernel each,
/// which on a GPU is one launch instead of hundreds. Every list must hold tensors of one device; on a GPU the
/// kernels also want one dtype per call (`Foreach.groups`).
public enum Foreach {
    /// Each tensor's vector norm, as 0-dim tensors on its device (torch._foreach_norm).
    public static func norms(_ tensors: [Tensor], ord: Double = 2) throws -> [Tensor] {
        if tensors.isEmpty { return [] }
        var out = [OpaquePointer?](repeating: nil, count: tensors.count)
        try withHandles(tensors) { t, n in try check(out.withUnsafeMutableBufferPointer { ct_foreach_norm(t, n, ord, $0.baseAddress) }) }
        return try out.map { try wrap($0) }
    }

    /// Every tensor ×= `factor`, a scalar tensor that stays on the device (torch._foreach_mul_).
    public static func mul_(_ tensors: [Tensor], _ factor: Tensor) throws {
        if tensors.isEmpty { return }
        try withHandles(tensors) { t, n in try check(ct_foreach_mul_tensor_(t, n, factor.handle)) }
    }

    /// tensors[i] += weight × (ends[i] − tensors[i]) (torch._foreach_lerp_): an EMA update in one call.
    public static func lerp_(_ tensors: [Tensor], _ ends: [Tensor], weight: Double) throws {
        precondition(tensors.count == ends.count, "Foreach.lerp_: lists of different lengths")
        if tensors.isEmpty { return }
        try withHandles(tensors) { t, n in try withHandles(ends) { e, _ in try check(ct_foreach_lerp_(t, e, n, weight)) } }
    }

    /// destinations[i] ← sources[i] (torch._foreach_copy_).
    public static func copy_(_ destinations: [Tensor], _ sources: [Tensor]) throws {
        precondition(destinations.count == sources.count, "Foreach.copy_: lists of different lengths")
        if destinations.isEmpty { return }
        try withHandles(destinations) { d, n in try withHandles(sources) { s, _ in try check(ct_foreach_copy_(d, s, n)) } }
    }

    /// Indices of `tensors` grouped by device and dtype, in first-seen order (what a multi-tensor kernel takes at once).
    public static func groups(_ tensors: [Tensor]) -> [[Int]] {
        var keys: [String] = [], members: [String: [Int]] = [:]
        for (i, t) in tensors.enumerated() {
            let key = "\(t.device)/\(t.dtype)"
            if members[key] == nil { keys.append(key) }
            members[key, default: []].append(i)
        }
        return keys.map { members[$0]! }
    }
}

extension Foreach {
    /// GradScaler's unscale: tensors ×= inverseScale, and foundInf (a float32 scalar on their device) set to 1 if
    /// one of them holds inf or NaN (torch._amp_foreach_non_finite_check_and_unscale_).
    public static func ampUnscale_(_ tensors: [Tensor], foundInf: Tensor, inverseScale: Tensor) throws {
        if tensors.isEmpty { return }
        try withHandles(tensors) { t, n in try check(ct_amp_unscale_(t, n, foundInf.handle, inverseScale.handle)) }
    }

    /// GradScaler's update on the device (torch._amp_update_scale_): scale × backoffFactor and tracker 0 when foundInf
    /// is set, else tracker + 1, and scale × growthFactor with the tracker back at 0 when it reaches growthInterval.
    public static func ampUpdateScale_(_ scale: Tensor, growthTracker: Tensor, foundInf: Tensor, growthFactor: Double,
                                       backoffFactor: Double, growthInterval: Int) throws {
        try check(ct_amp_update_scale_(scale.handle, growthTracker.handle, foundInf.handle, growthFactor, backoffFactor,
                                       Int64(growthInterval)))
    }
}
