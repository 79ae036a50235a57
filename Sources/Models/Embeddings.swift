import Foundation
import Torch

// Embeddings shared by diffusers' DiT family, computed exactly as diffusers.models.embeddings does (same ops and
// dtypes), so positions and timesteps match bit for bit.

/// Sinusoidal timestep features (diffusers `get_timestep_embedding`): [N] → [N, dim].
public func timestepEmbedding(_ timesteps: Tensor, dim: Int, flipSinToCos: Bool, downscaleFreqShift: Double,
                              scale: Double = 1, maxPeriod: Double = 10000) throws -> Tensor {
    let half = dim / 2
    let exponent = try Tensor.arange(0, Double(half), dtype: .float32, device: timesteps.device)
        * -Foundation.log(maxPeriod) / (Double(half) - downscaleFreqShift)
    var emb = try timesteps.reshaped(-1).to(.float32).unsqueezed(1) * exponent.exp().unsqueezed(0)
    if scale != 1 { emb = try emb * scale }
    emb = try flipSinToCos ? Tensor.cat([emb.cos(), emb.sin()], dim: -1) : Tensor.cat([emb.sin(), emb.cos()], dim: -1)
    if dim % 2 == 1 { emb = try F.pad(emb, [0, 1]) }
    return emb
}

/// 1-D sine-cosine embedding of positions (float64, as diffusers computes it on CPU): [M] → [M, dim].
func sincosEmbedding1D(dim: Int, positions: Tensor) throws -> Tensor {
    let omega = try 1.0 / Tensor.full([], 10000, dtype: .float64, device: positions.device)
        .pow(Tensor.arange(0, Double(dim / 2), dtype: .float64, device: positions.device) / (Double(dim) / 2))
    let out = try positions.reshaped(-1).to(.float64).unsqueezed(1) * omega.unsqueezed(0)
    return try Tensor.cat([out.sin(), out.cos()], dim: 1)
}

/// 2-D sine-cosine position embedding of a gridH × gridW patch layout (diffusers `get_2d_sincos_pos_embed`):
/// [gridH·gridW, dim], float32. `baseSize` and `interpolationScale` stretch the grid as PixArt does for other
/// resolutions.
public func sincosPositionEmbedding2D(dim: Int, gridH: Int, gridW: Int, baseSize: Double, interpolationScale: Double,
                                      device: Device = .cpu) throws -> Tensor {
    guard dim % 4 == 0 else { throw ModelError("2-D sin-cos embedding needs a dimension divisible by 4, got \(dim)") }
    let gh = try Tensor.arange(0, Double(gridH), dtype: .float32, device: device) / (Double(gridH) / baseSize)
        / interpolationScale
    let gw = try Tensor.arange(0, Double(gridW), dtype: .float32, device: device) / (Double(gridW) / baseSize)
        / interpolationScale
    // meshgrid(w, h, indexing="xy"): both [gridH, gridW]; the first varies along columns.
    let first = try gw.unsqueezed(0).expanded([gridH, gridW]).contiguous()
    let second = try gh.unsqueezed(1).expanded([gridH, gridW]).contiguous()
    return try Tensor.cat([sincosEmbedding1D(dim: dim / 2, positions: first),
                           sincosEmbedding1D(dim: dim / 2, positions: second)], dim: 1).to(.float32)
}

/// Conv patchify + fixed 2-D sin-cos positions (diffusers `PatchEmbed`, as PixArt configures it).
public final class PatchEmbed: Module {
    public let proj: Conv2d
    /// Not saved (diffusers registers it non-persistent; see init): recomputed from the config.
    @Buffer var posEmbed: Tensor
    public let patchSize: Int, baseSize: Int, interpolationScale: Double
    let gridH: Int, gridW: Int

    public init(height: Int, width: Int, patchSize: Int, inChannels: Int, embedDim: Int, interpolationScale: Double)
        throws
    {
        self.patchSize = patchSize
        self.interpolationScale = interpolationScale
        gridH = height / patchSize
        gridW = width / patchSize
        baseSize = height / patchSize
        proj = Conv2d(inChannels, embedDim, kernelSize: (patchSize, patchSize), stride: (patchSize, patchSize))
        let side = Int(Double(gridH * gridW).squareRoot())
        _posEmbed = Buffer(wrappedValue: try sincosPositionEmbedding2D(
            dim: embedDim, gridH: side, gridW: side, baseSize: Double(baseSize),
            interpolationScale: interpolationScale).unsqueezed(0), persistent: false)
    }

    /// [B, C, H, W] → [B, (H/p)·(W/p), dim].
    public func callAsFunction(_ latent: Tensor) throws -> Tensor {
        let h = latent.size(-2) / patchSize, w = latent.size(-1) / patchSize
        let x = try proj(latent).flattened(from: 2).transposed(1, 2)
        var pos = posEmbed
        if h != gridH || w != gridW {
            pos = try sincosPositionEmbedding2D(dim: x.size(-1), gridH: h, gridW: w, baseSize: Double(baseSize),
                                                interpolationScale: interpolationScale, device: x.device).unsqueezed(0)
        } else if pos.device != x.device {
            pos = try pos.to(x.device)
        }
        return try (x + pos).to(x.dtype)
    }
}

/// Linear → SiLU → Linear on timestep features (diffusers `TimestepEmbedding`).
public final class TimestepEmbedding: Module {
    @Child var linear1: Linear
    @Child var linear2: Linear
    public init(inChannels: Int, timeEmbedDim: Int) {
        _linear1 = Child(wrappedValue: Linear(inChannels, timeEmbedDim), "linear_1")
        _linear2 = Child(wrappedValue: Linear(timeEmbedDim, timeEmbedDim), "linear_2")
    }
    public func callAsFunction(_ x: Tensor) throws -> Tensor { try linear2(try linear1(x).silu()) }
}

/// Projects text-encoder features to the transformer width: Linear → GELU(tanh) → Linear
/// (diffusers `PixArtAlphaTextProjection`).
public final class PixArtAlphaTextProjection: Module {
    @Child var linear1: Linear
    @Child var linear2: Linear
    public init(inFeatures: Int, hiddenSize: Int) {
        _linear1 = Child(wrappedValue: Linear(inFeatures, hiddenSize), "linear_1")
        _linear2 = Child(wrappedValue: Linear(hiddenSize, hiddenSize), "linear_2")
    }
    public func callAsFunction(_ caption: Tensor) throws -> Tensor {
        try linear2(try linear1(caption).gelu(approximate: .tanh))
    }
}
