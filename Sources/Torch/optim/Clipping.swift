/// Scales gradients so their global L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_), returning
/// the norm before clipping. Parameters without a gradient are ignored.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2) throws -> Double {
    let grads = parameters.compactMap(\.grad)
    if grads.isEmpty { return 0 }
    return try withNoGrad {
        let norms = try grads.map { try $0.norm(normType) }
        let total = try Tensor.stack(norms).norm(normType)
        let coef = try (maxNorm / (total + 1e-6)).clamp(max: 1.0)
        for g in grads { try g.mul_(try coef.to(g.device)) }
        return try total.item()
    }
}
