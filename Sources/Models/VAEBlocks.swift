import Torch

// The convolutional building blocks of diffusers' AutoencoderKL (Encoder/Decoder), with diffusers' names.

/// Two 3×3 convolutions with GroupNorm + SiLU before each, and a residual (1×1 conv when the width changes).
/// (diffusers `ResnetBlock2D` without a time embedding.)
public final class ResnetBlock2D: Module {
    public let norm1: GroupNorm, conv1: Conv2d, norm2: GroupNorm, conv2: Conv2d
    public let convShortcut: Conv2d?

    init(inChannels: Int, outChannels: Int, groups: Int, eps: Double) {
        norm1 = GroupNorm(numGroups: groups, numChannels: inChannels, eps: eps)
        conv1 = Conv2d(inChannels, outChannels, kernelSize: 3, padding: 1)
        norm2 = GroupNorm(numGroups: groups, numChannels: outChannels, eps: eps)
        conv2 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1)
        convShortcut = inChannels != outChannels ? Conv2d(inChannels, outChannels, kernelSize: 1) : nil
    }

    /// `layers` blocks, the first changing the width, as the down/up blocks of the VAE stack them.
    static func stack(_ inChannels: Int, _ outChannels: Int, layers: Int, groups: Int) -> [ResnetBlock2D] {
        (0..<layers).map {
            ResnetBlock2D(inChannels: $0 == 0 ? inChannels : outChannels, outChannels: outChannels, groups: groups, eps: 1e-6)
        }
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = try conv1(try norm1(x).silu())
        h = try conv2(try norm2(h).silu())
        return try (convShortcut.map { try $0(x) } ?? x) + h
    }
}

/// Stride-2 3×3 convolution after padding right and bottom by one (diffusers `Downsample2D`, padding 0).
public final class Downsample2D: Module {
    public let conv: Conv2d
    init(channels: Int) { conv = Conv2d(channels, channels, kernelSize: 3, stride: 2, padding: 0) }
    func callAsFunction(_ x: Tensor) throws -> Tensor { try conv(try F.pad(x, [0, 1, 0, 1])) }
}

/// Nearest-neighbour ×2 then a 3×3 convolution (diffusers `Upsample2D`).
public final class Upsample2D: Module {
    public let conv: Conv2d
    init(channels: Int) { conv = Conv2d(channels, channels, kernelSize: 3, padding: 1) }
    func callAsFunction(_ x: Tensor) throws -> Tensor { try conv(try F.interpolate(x, scaleFactor: 2)) }
}

/// Single-head spatial self-attention over all pixels with a GroupNorm in front and a residual
/// (diffusers `Attention` as the VAE's mid block configures it).
public final class SpatialSelfAttention: Module {
    public let groupNorm: GroupNorm
    public let toQ: Linear, toK: Linear, toV: Linear
    @Child public var toOut: Linear  // diffusers' to_out.0 (to_out.1 is a dropout of 0)
    let heads: Int

    init(channels: Int, headDim: Int, groups: Int, eps: Double) {
        heads = max(1, channels / headDim)
        groupNorm = GroupNorm(numGroups: groups, numChannels: channels, eps: eps)
        toQ = Linear(channels, channels)
        toK = Linear(channels, channels)
        toV = Linear(channels, channels)
        _toOut = Child(wrappedValue: Linear(channels, channels), "to_out.0")
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (b, c, h, w) = (x.size(0), x.size(1), x.size(2), x.size(3))
        let tokens = try groupNorm(x).view([b, c, h * w]).transposed(1, 2)  // [B, HW, C]
        func split(_ t: Tensor) throws -> Tensor { try t.reshaped(b, -1, heads, c / heads).transposed(1, 2) }
        let y = try F.scaledDotProductAttention(try split(toQ(tokens)), try split(toK(tokens)), try split(toV(tokens)))
        let out = try toOut(try y.transposed(1, 2).reshaped(b, -1, c))
        return try out.transposed(-1, -2).reshaped(b, c, h, w) + x
    }
}

/// resnet → attention → resnet at the lowest resolution (diffusers `UNetMidBlock2D` without time embedding).
public final class MidBlock2D: Module {
    public let attentions: [SpatialSelfAttention]
    public let resnets: [ResnetBlock2D]

    init(channels: Int, groups: Int, eps: Double, addAttention: Bool) {
        attentions = addAttention ? [SpatialSelfAttention(channels: channels, headDim: channels, groups: groups, eps: eps)] : []
        resnets = [ResnetBlock2D(inChannels: channels, outChannels: channels, groups: groups, eps: eps),
                   ResnetBlock2D(inChannels: channels, outChannels: channels, groups: groups, eps: eps)]
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = try resnets[0](x)
        if let attention = attentions.first { h = try attention(h) }
        return try resnets[1](h)
    }
}

/// Resnets then an optional downsampler (diffusers `DownEncoderBlock2D`).
public final class DownEncoderBlock2D: Module {
    public let resnets: [ResnetBlock2D]
    public let downsamplers: [Downsample2D]

    init(inChannels: Int, outChannels: Int, layers: Int, groups: Int, addDownsample: Bool) {
        resnets = ResnetBlock2D.stack(inChannels, outChannels, layers: layers, groups: groups)
        downsamplers = addDownsample ? [Downsample2D(channels: outChannels)] : []
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = x
        for r in resnets { h = try r(h) }
        for d in downsamplers { h = try d(h) }
        return h
    }
}

/// Resnets then an optional upsampler (diffusers `UpDecoderBlock2D`).
public final class UpDecoderBlock2D: Module {
    public let resnets: [ResnetBlock2D]
    public let upsamplers: [Upsample2D]

    init(inChannels: Int, outChannels: Int, layers: Int, groups: Int, addUpsample: Bool) {
        resnets = ResnetBlock2D.stack(inChannels, outChannels, layers: layers, groups: groups)
        upsamplers = addUpsample ? [Upsample2D(channels: outChannels)] : []
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = x
        for r in resnets { h = try r(h) }
        for u in upsamplers { h = try u(h) }
        return h
    }
}

/// Image → moments of the latent distribution (diffusers `Encoder` with double_z).
public final class VAEEncoder: Module {
    public let convIn: Conv2d
    public let downBlocks: [DownEncoderBlock2D]
    public let midBlock: MidBlock2D
    public let convNormOut: GroupNorm
    public let convOut: Conv2d

    init(inChannels: Int, latentChannels: Int, blockOutChannels: [Int], layersPerBlock: Int, groups: Int,
         midAttention: Bool) {
        convIn = Conv2d(inChannels, blockOutChannels[0], kernelSize: 3, padding: 1)
        var previous = blockOutChannels[0]
        downBlocks = blockOutChannels.enumerated().map { i, out in
            defer { previous = out }
            return DownEncoderBlock2D(inChannels: previous, outChannels: out, layers: layersPerBlock, groups: groups,
                                      addDownsample: i < blockOutChannels.count - 1)
        }
        let last = blockOutChannels.last!
        midBlock = MidBlock2D(channels: last, groups: groups, eps: 1e-6, addAttention: midAttention)
        convNormOut = GroupNorm(numGroups: groups, numChannels: last, eps: 1e-6)
        convOut = Conv2d(last, 2 * latentChannels, kernelSize: 3, padding: 1)
    }

    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var h = try convIn(x)
        for block in downBlocks { h = try block(h) }
        h = try midBlock(h)
        return try convOut(try convNormOut(h).silu())
    }
}

/// Latent → image (diffusers `Decoder`).
public final class VAEDecoder: Module {
    public let convIn: Conv2d
    public let midBlock: MidBlock2D
    public let upBlocks: [UpDecoderBlock2D]
    public let convNormOut: GroupNorm
    public let convOut: Conv2d

    init(latentChannels: Int, outChannels: Int, blockOutChannels: [Int], layersPerBlock: Int, groups: Int,
         midAttention: Bool) {
        let reversed = Array(blockOutChannels.reversed())
        convIn = Conv2d(latentChannels, reversed[0], kernelSize: 3, padding: 1)
        midBlock = MidBlock2D(channels: reversed[0], groups: groups, eps: 1e-6, addAttention: midAttention)
        var previous = reversed[0]
        upBlocks = reversed.enumerated().map { i, out in
            defer { previous = out }
            return UpDecoderBlock2D(inChannels: previous, outChannels: out, layers: layersPerBlock + 1, groups: groups,
                                    addUpsample: i < reversed.count - 1)
        }
        convNormOut = GroupNorm(numGroups: groups, numChannels: blockOutChannels[0], eps: 1e-6)
        convOut = Conv2d(blockOutChannels[0], outChannels, kernelSize: 3, padding: 1)
    }

    func callAsFunction(_ z: Tensor) throws -> Tensor {
        var h = try midBlock(try convIn(z))
        for block in upBlocks { h = try block(h) }
        return try convOut(try convNormOut(h).silu())
    }
}
