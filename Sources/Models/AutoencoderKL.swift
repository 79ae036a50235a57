import Foundation
import Support
import Torch

/// diffusers' AutoencoderKL config.json (the SD VAE's, e.g. stabilityai/sd-vae-ft-mse).
public struct AutoencoderKLConfig: Equatable, Sendable {
    public var inChannels = 3
    public var outChannels = 3
    public var downBlockTypes = ["DownEncoderBlock2D"]
    public var upBlockTypes = ["UpDecoderBlock2D"]
    public var blockOutChannels = [64]
    public var layersPerBlock = 1
    public var actFn = "silu"
    public var latentChannels = 4
    public var normNumGroups = 32
    public var sampleSize = 32
    public var scalingFactor = 0.18215
    public var shiftFactor: Double? = nil
    public var useQuantConv = true
    public var usePostQuantConv = true
    public var midBlockAddAttention = true
    /// Keys this struct does not use but diffusers writes (latents_mean, force_upcast, ...), kept for saving.
    var passthrough: [String: JSONValue] = [:]

    public static let className = "AutoencoderKL"

    public init() {}

    public init(_ c: JSONConfig) throws {
        if let name = try c.optionalString("_class_name"), name != Self.className {
            throw ConfigError(file: c.file, key: "_class_name", "'\(name)' is not \(Self.className)")
        }
        inChannels = try c.int("in_channels", default: 3)
        outChannels = try c.int("out_channels", default: 3)
        blockOutChannels = try c.ints("block_out_channels")
        downBlockTypes = try c.strings("down_block_types", default: Array(repeating: "DownEncoderBlock2D", count: blockOutChannels.count))
        upBlockTypes = try c.strings("up_block_types", default: Array(repeating: "UpDecoderBlock2D", count: blockOutChannels.count))
        layersPerBlock = try c.int("layers_per_block", default: 1)
        actFn = try c.string("act_fn", default: "silu")
        latentChannels = try c.int("latent_channels", default: 4)
        normNumGroups = try c.int("norm_num_groups", default: 32)
        sampleSize = try c.int("sample_size", default: 32)
        scalingFactor = try c.double("scaling_factor", default: 0.18215)
        shiftFactor = try c.optionalDouble("shift_factor")
        useQuantConv = try c.bool("use_quant_conv", default: true)
        usePostQuantConv = try c.bool("use_post_quant_conv", default: true)
        midBlockAddAttention = try c.bool("mid_block_add_attention", default: true)
        for key in ["latents_mean", "latents_std", "force_upcast"] where c.values[key] != nil { passthrough[key] = c.values[key] }

        try c.require(!blockOutChannels.isEmpty, "block_out_channels", "must list at least one width")
        try c.require(downBlockTypes.count == blockOutChannels.count, "down_block_types",
                      "has \(downBlockTypes.count) entries, block_out_channels has \(blockOutChannels.count)")
        try c.require(upBlockTypes.count == blockOutChannels.count, "up_block_types",
                      "has \(upBlockTypes.count) entries, block_out_channels has \(blockOutChannels.count)")
        for (i, t) in downBlockTypes.enumerated() { try c.check("down_block_types[\(i)]", t, in: ["DownEncoderBlock2D"]) }
        for (i, t) in upBlockTypes.enumerated() { try c.check("up_block_types[\(i)]", t, in: ["UpDecoderBlock2D"]) }
        try c.check("act_fn", actFn, in: ["silu", "swish"])
        try c.require(normNumGroups > 0 && blockOutChannels.allSatisfy { $0 > 0 && $0 % normNumGroups == 0 },
                      "norm_num_groups", "\(normNumGroups) must divide every block_out_channels entry \(blockOutChannels)")
        try c.require(inChannels > 0 && outChannels > 0 && latentChannels > 0 && layersPerBlock > 0, "in_channels",
                      "channel counts and layers_per_block must be positive")
    }

    public init(contentsOf url: URL) throws { try self.init(JSONConfig(contentsOf: url)) }

    public var json: JSONValue {
        var v: [String: JSONValue] = passthrough
        v["_class_name"] = .string(Self.className)
        v["_diffusers_version"] = .string("0.42.1")
        v["in_channels"] = .integer(inChannels)
        v["out_channels"] = .integer(outChannels)
        v["down_block_types"] = .array(downBlockTypes.map { .string($0) })
        v["up_block_types"] = .array(upBlockTypes.map { .string($0) })
        v["block_out_channels"] = .array(blockOutChannels.map { .integer($0) })
        v["layers_per_block"] = .integer(layersPerBlock)
        v["act_fn"] = .string(actFn)
        v["latent_channels"] = .integer(latentChannels)
        v["norm_num_groups"] = .integer(normNumGroups)
        v["sample_size"] = .integer(sampleSize)
        v["scaling_factor"] = .double(scalingFactor)
        v["shift_factor"] = shiftFactor.map { .double($0) } ?? .null
        v["use_quant_conv"] = .bool(useQuantConv)
        v["use_post_quant_conv"] = .bool(usePostQuantConv)
        v["mid_block_add_attention"] = .bool(midBlockAddAttention)
        return .object(v)
    }
}

/// The posterior of the VAE encoder: a diagonal Gaussian over latents (diffusers `DiagonalGaussianDistribution`).
public struct DiagonalGaussianDistribution {
    public let mean: Tensor
    /// Clamped to [−30, 20], as diffusers does.
    public let logvar: Tensor

    public init(moments: Tensor) throws {
        let parts = try moments.chunked(2, dim: 1)
        mean = parts[0]
        logvar = try parts[1].clamp(min: -30, max: 20)
    }

    public var std: Tensor { get throws { try (0.5 * logvar).exp() } }

    /// mean + std·ε.
    public func sample(generator: Generator? = nil) throws -> Tensor {
        let eps = try Tensor.randn(mean.shape, dtype: mean.dtype, device: mean.device, generator: generator)
        return try mean + std * eps
    }
}

/// The KL-regularised autoencoder of latent diffusion (diffusers `AutoencoderKL`): images in [−1, 1] ↔ latents.
/// Latents for the DiT are (z − shift_factor) · scaling_factor; `decode` expects them unscaled.
public final class AutoencoderKL: Module {
    public let config: AutoencoderKLConfig
    public let encoder: VAEEncoder
    public let decoder: VAEDecoder
    public let quantConv: Conv2d?
    public let postQuantConv: Conv2d?

    public static let weightsName = "diffusion_pytorch_model.safetensors"

    public init(_ config: AutoencoderKLConfig) {
        self.config = config
        encoder = VAEEncoder(inChannels: config.inChannels, latentChannels: config.latentChannels,
                             blockOutChannels: config.blockOutChannels, layersPerBlock: config.layersPerBlock,
                             groups: config.normNumGroups, midAttention: config.midBlockAddAttention)
        decoder = VAEDecoder(latentChannels: config.latentChannels, outChannels: config.outChannels,
                             blockOutChannels: config.blockOutChannels, layersPerBlock: config.layersPerBlock,
                             groups: config.normNumGroups, midAttention: config.midBlockAddAttention)
        let l = config.latentChannels
        quantConv = config.useQuantConv ? Conv2d(2 * l, 2 * l, kernelSize: 1) : nil
        postQuantConv = config.usePostQuantConv ? Conv2d(l, l, kernelSize: 1) : nil
    }

    public func encode(_ x: Tensor) throws -> DiagonalGaussianDistribution {
        guard x.rank == 4, x.size(1) == config.inChannels else {
            throw TorchError("VAE input must be [B, \(config.inChannels), H, W], got \(x.shape)")
        }
        var moments = try encoder(x)
        if let quantConv { moments = try quantConv(moments) }
        return try DiagonalGaussianDistribution(moments: moments)
    }

    public func decode(_ z: Tensor) throws -> Tensor {
        guard z.rank == 4, z.size(1) == config.latentChannels else {
            throw TorchError("latents must be [B, \(config.latentChannels), h, w], got \(z.shape)")
        }
        return try decoder(try postQuantConv.map { try $0(z) } ?? z)
    }

    /// Latents as the diffusion model sees them: (z − shift) · scale.
    public func scaled(_ z: Tensor) throws -> Tensor {
        try (config.shiftFactor.map { try z - $0 } ?? z) * config.scalingFactor
    }

    /// Inverse of `scaled`.
    public func unscaled(_ latents: Tensor) throws -> Tensor {
        let z = try latents / config.scalingFactor
        return try config.shiftFactor.map { try z + $0 } ?? z
    }

    public static func load(from directory: URL, device: Device = .cpu, dtype: DType = .float32) throws -> AutoencoderKL {
        try ModelDirectory.loadModel(from: directory, weightsName: weightsName, device: device, dtype: dtype) {
            AutoencoderKL(try AutoencoderKLConfig(contentsOf: $0))
        }
    }

    public func save(to directory: URL) throws {
        try ModelDirectory.save(self, config: config.json, to: directory, weightsFilename: Self.weightsName)
    }
}
