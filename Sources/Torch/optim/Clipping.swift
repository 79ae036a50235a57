/// The global L2 (or `normType`) norm of the parameters' gradients as a 0-dim tensor on their device: one
/// multi-tensor kernel per device and dtype, no value read by the host. nil when no parameter has a gradient.
public func gradientNorm(_ parameters: [Tensor], normType: Double = 2) throws -> Tensor? {
    let grads = parameters.compactMap(\.grad)
    if grads.isEmpty { return nil }
    return try withNoGrad {
        var norms: [Tensor] = []
        for group in Foreach.groups(grads) { norms += try Foreach.norms(group.map { grads[$0] }, ord: normType) }
        let device = grads[0].device
        return try Tensor.stack(norms.map { $0.device == device ? $0 : try $0.to(device) }).norm(normType)
    }
}

/// Scales gradients so their global norm is at most `maxNorm`, as torch.nn.utils.clip_grad_norm_(foreach=True):
/// the coefficient min(1, maxNorm / (norm + 1e-6)) stays on the device and multiplies every gradient in one
/// multi-tensor call. Returns the norm before clipping, on the device (read it only when it is wanted: reading
/// waits for the GPU). nil when no parameter has a gradient.
@discardableResult
public func clipGradNorm_(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2) throws -> Tensor? {
    guard let total = try gradientNorm(parameters, normType: normType) else { return nil }
    let grads = parameters.compactMap(\.grad)
    try withNoGrad {
        let coefficient = try (maxNorm / (total + 1e-6)).clamp(max: 1.0)
        for group in Foreach.groups(grads) {
            let members = group.map { grads[$0] }
            let c = members[0].device == coefficient.device ? coefficient : try coefficient.to(members[0].device)
            try Foreach.mul_(members, c)
        }
    }
    return total
}

/// `clipGradNorm_` with the norm read back (a host synchronisation): for tests and scripts, not the training step.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2) throws -> Double {
    try clipGradNorm_(parameters, maxNorm: maxNorm, normType: normType)?.item() ?? 0
}
