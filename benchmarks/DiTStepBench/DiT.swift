import Foundation
import Torch

// The original DiT (Peebles & Xie, 2023) with adaLN-Zero, class-conditional, in pixel space — the benchmark model.
// benchmarks/bench_dit_step.py defines the same network in PyTorch, creating the layers in the same order so that
// one seed gives both the same weights (and so the same first loss).

/// 2-D sine-cosine position embedding for a grid×grid patch layout ([grid², dim]).
func sincosPositionEmbedding(dim: Int, grid: Int) throws -> Tensor {
    let coords = try Tensor.arange(0, Double(grid), dtype: .float64)
    let omega = try 1.0 / Tensor.full([dim / 4], 10000, dtype: .float64)
        .pow(try Tensor.arange(0, Double(dim / 4), dtype: .float64) / Double(dim / 4))
    func embed1d(_ pos: Tensor) throws -> Tensor {  // [M] -> [M, dim/2]
        let out = try pos.unsqueezed(1) * omega.unsqueezed(0)
        return try Tensor.cat([out.sin(), out.cos()], dim: 1)
    }
    // Width varies fastest, as in DiT's get_2d_sincos_pos_embed.
    let w = try coords.repeated([grid]), h = try coords.unsqueezed(1).repeated([1, grid]).flattened()
    return try Tensor.cat([embed1d(w), embed1d(h)], dim: 1).to(.float32)
}

/// Sinusoidal timestep features followed by an MLP (DiT's TimestepEmbedder).
final class TimestepEmbedder: Module {
    let mlp: Sequential
    let frequencyDim = 256
    init(hidden: Int) { mlp = Sequential(Linear(256, hidden), Activation(.silu), Linear(hidden, hidden)) }

    func callAsFunction(_ t: Tensor) throws -> Tensor {
        let half = frequencyDim / 2
        let freqs = try (Tensor.arange(0, Double(half), dtype: .float32, device: t.device)
            * (-Foundation.log(10000.0) / Double(half))).exp()
        let args = try t.to(.float32).unsqueezed(1) * freqs.unsqueezed(0)
        return try mlp(try Tensor.cat([args.cos(), args.sin()], dim: -1))
    }
}

final class SelfAttention: Module {
    let qkv: Linear, proj: Linear
    let heads: Int
    init(hidden: Int, heads: Int) {
        self.heads = heads
        qkv = Linear(hidden, 3 * hidden)
        proj = Linear(hidden, hidden)
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (b, n, c) = (x.size(0), x.size(1), x.size(2))
        let parts = try qkv(x).reshaped(b, n, 3, heads, c / heads).permuted(2, 0, 3, 1, 4)
        let y = try F.scaledDotProductAttention(parts[0], parts[1], parts[2])
        return try proj(try y.transposed(1, 2).reshaped(b, n, c))
    }
}

/// x·(1 + scale) + shift, with [B, C] modulation broadcast over the tokens.
/// (addcmul would fuse this into one kernel, but measured slower here: broadcasting `self` costs more.)
func modulate(_ x: Tensor, shift: Tensor, scale: Tensor) throws -> Tensor {
    try x * (1 + scale.unsqueezed(1)) + shift.unsqueezed(1)
}

/// A DiT block: the condition sets shift, scale and gate of both sub-layers (adaLN-Zero).
final class DiTBlock: Module {
    let norm1: LayerNorm, attn: SelfAttention, norm2: LayerNorm, mlp: Sequential, adaLNModulation: Sequential

    init(hidden: Int, heads: Int) throws {
        norm1 = LayerNorm(hidden, eps: 1e-6, elementwiseAffine: false)
        attn = SelfAttention(hidden: hidden, heads: heads)
        norm2 = LayerNorm(hidden, eps: 1e-6, elementwiseAffine: false)
        mlp = Sequential(Linear(hidden, 4 * hidden), Activation(.geluTanh), Linear(4 * hidden, hidden))
        let modulation = Linear(hidden, 6 * hidden)
        adaLNModulation = Sequential(Activation(.silu), modulation)
        super.init()
        try withNoGrad {  // "Zero": each block starts as the identity
            try modulation.weight.zero_()
            try modulation.bias?.zero_()
        }
    }

    func callAsFunction(_ x: Tensor, _ c: Tensor) throws -> Tensor {
        let m = try adaLNModulation(c).chunked(6, dim: 1)
        let x = try x + m[2].unsqueezed(1) * attn(modulate(norm1(x), shift: m[0], scale: m[1]))
        return try x + m[5].unsqueezed(1) * mlp(modulate(norm2(x), shift: m[3], scale: m[4]))
    }
}

final class FinalLayer: Module {
    let normFinal: LayerNorm, linear: Linear, adaLNModulation: Sequential
    init(hidden: Int, patch: Int, outChannels: Int) throws {
        normFinal = LayerNorm(hidden, eps: 1e-6, elementwiseAffine: false)
        linear = Linear(hidden, patch * patch * outChannels)
        let modulation = Linear(hidden, 2 * hidden)
        adaLNModulation = Sequential(Activation(.silu), modulation)
        super.init()
        try withNoGrad {
            for t in [linear.weight, linear.bias!, modulation.weight, modulation.bias!] { try t.zero_() }
        }
    }
    func callAsFunction(_ x: Tensor, _ c: Tensor) throws -> Tensor {
        let m = try adaLNModulation(c).chunked(2, dim: 1)
        return try linear(try modulate(normFinal(x), shift: m[0], scale: m[1]))
    }
}

final class DiT: Module {
    let xEmbedder: Conv2d, tEmbedder: TimestepEmbedder, yEmbedder: Embedding
    @Buffer var posEmbed: Tensor
    let blocks: [DiTBlock]
    let finalLayer: FinalLayer
    let patch: Int, channels: Int, size: Int

    init(size: Int, channels: Int, patch: Int, hidden: Int, depth: Int, heads: Int, classes: Int) throws {
        self.patch = patch
        self.channels = channels
        self.size = size
        xEmbedder = Conv2d(channels, hidden, kernelSize: patch, stride: patch)
        tEmbedder = TimestepEmbedder(hidden: hidden)
        yEmbedder = Embedding(classes + 1, hidden)  // the extra class is "no label" for guidance
        posEmbed = try sincosPositionEmbedding(dim: hidden, grid: size / patch).unsqueezed(0)
        blocks = try (0..<depth).map { _ in try DiTBlock(hidden: hidden, heads: heads) }
        finalLayer = try FinalLayer(hidden: hidden, patch: patch, outChannels: channels)
    }

    func callAsFunction(_ x: Tensor, t: Tensor, y: Tensor) throws -> Tensor {
        var h = try xEmbedder(x).flattened(from: 2).transposed(1, 2) + posEmbed  // [B, N, hidden]
        let c = try tEmbedder(t) + yEmbedder(y)
        for block in blocks { h = try block(h, c) }
        h = try finalLayer(h, c)  // [B, N, p·p·C]
        // Unpatchify: [B, g, g, p, p, C] -> [B, C, g·p, g·p]
        let g = size / patch, b = x.size(0)
        return try h.reshaped(b, g, g, patch, patch, channels).permuted(0, 5, 1, 3, 2, 4)
            .reshaped(b, channels, g * patch, g * patch)
    }
}
