import CTorch

extension F {
    /// adaLN's modulation x·(1 + scale) + shift (DiT's `modulate`), with x [B, N, C] and shift, scale [B, 1, C]. On
    /// the CPU in float32 it is one pass over x forward and one backward (the shim's fused kernel); elsewhere the
    /// same arithmetic as separate ops. Both round like PyTorch's eager ops forward.
    public static func modulate(_ x: Tensor, shift: Tensor, scale: Tensor) throws -> Tensor {
        try wrap(ct_modulate(x.handle, shift.handle, scale.handle))
    }

    /// adaLN-Zero's gated residual h + gate·y, with h, y [B, N, C] and gate [B, 1, C]; fused like `modulate`.
    public static func gatedResidual(_ h: Tensor, gate: Tensor, _ y: Tensor) throws -> Tensor {
        try wrap(ct_gated_residual(h.handle, gate.handle, y.handle))
    }

    /// Whether `modulate` and `gatedResidual` may take the fused CPU kernels (on by default; off to measure them).
    public static var fusedModulation: Bool {
        get { ct_fused_modulation_enabled() }
        set { ct_fused_modulation_set_enabled(newValue) }
    }
}
