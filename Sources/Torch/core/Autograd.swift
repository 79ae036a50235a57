import CTorch

extension Tensor {
    public var requiresGrad: Bool { ct_requires_grad(handle) }
    /// Marks a leaf tensor as trainable (torch's requires_grad_); returns self for chaining.
    @discardableResult
    public func requiresGrad(_ on: Bool) throws -> Tensor {
        try check(ct_set_requires_grad(handle, on))
        return self
    }
    public var isLeaf: Bool { ct_is_leaf(handle) }

    /// The accumulated gradient, nil before the first backward (or after `zeroGrad`).
    public var grad: Tensor? {
        guard let h = ct_grad(handle) else { return nil }
        return Tensor(owning: h)
    }
    public func setGrad(_ g: Tensor?) throws { try check(ct_set_grad(handle, g?.handle)) }
    /// Drops the gradient (PyTorch's zero_grad(set_to_none=True)).
    public func zeroGrad() { ct_set_grad(handle, nil) }

    /// Back-propagates from this tensor; `gradient` is required unless the tensor has one element.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) throws {
        try check(ct_backward(handle, gradient?.handle, retainGraph))
    }
    /// Replaces this tensor's data (storage, dtype, device) in place, keeping its identity and requires_grad.
    public func setData(_ data: Tensor) throws { try check(ct_set_data(handle, data.handle)) }
    /// Identity of the underlying libtorch tensor: equal for two Swift handles of the same tensor.
    public var implID: UInt64 { ct_impl_id(handle) }

    /// The same data, cut from the autograd graph.
    public func detach() throws -> Tensor { try wrap(ct_detach(handle)) }
}

/// Whether operations record autograd history on this thread.
public var isGradEnabled: Bool { ct_grad_enabled() }

/// Runs `body` with autograd recording switched off (torch.no_grad), restoring the previous mode after.
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try withGradEnabled(false, body)
}

/// Runs `body` with autograd recording on or off.
public func withGradEnabled<R>(_ enabled: Bool, _ body: () throws -> R) rethrows -> R {
    let previous = ct_grad_enabled()
    ct_set_grad_enabled(enabled)
    defer { ct_set_grad_enabled(previous) }
    return try body()
}

/// Runs `body` under automatic mixed precision (torch.autocast): matmuls and convolutions run in `dtype`
/// (bfloat16 on CPU, float16 or bfloat16 on CUDA) while precision-sensitive ops stay in float32.
public func withAutocast<R>(device: Device = .cpu, dtype: DType = .bfloat16, enabled: Bool = true,
                            _ body: () throws -> R) throws -> R {
    let dev = device.typeCode
    let wasEnabled = ct_autocast_enabled(dev)
    let previousDType = ct_autocast_dtype(dev)
    try check(ct_autocast_set(dev, enabled, dtype.rawValue))
    ct_autocast_increment_nesting()
    defer {
        ct_autocast_decrement_nesting()
        _ = ct_autocast_set(dev, wasEnabled, previousDType >= 0 ? previousDType : dtype.rawValue)
    }
    return try body()
}
