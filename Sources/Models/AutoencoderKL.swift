import Core
import Foundation
import Torch

/// diffusers' AutoencoderKL config.json (the SD VAE's, e.g. stabilityai/sd-vae-ft-mse).
public struct AutoencoderKLConfig: HFConfig, Equatable, Sendable {
    public var className = Self.className
    public var diffusersVersion = "0.42.1"
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
    /// Per-channel latent statistics of later VAEs (unused here, kept for the round trip).
    public var latentsMean: [Double]? = nil, latentsStd: [Double]? = nil
    public var forceUpcast = true
    public var useQuantConv = true
    public var usePostQuantConv = true
    public var midBlockAddAttention = true

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case className = "_class_name", diffusersVersion = "_diffusers_version"
        case inChannels = "in_channels", outChannels = "out_channels", downBlockTypes = "down_block_types"
        case upBlockTypes = "up_block_types", blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block", actFn = "act_fn", latentChannels = "latent_channels"
        case normNumGroups = "norm_num_groups", sampleSize = "sample_size", scalingFactor = "scaling_factor"
        case shiftFactor = "shift_factor", latentsMean = "latents_mean", latentsStd = "latents_std"
        case forceUpcast = "force_upcast", useQuantConv = "use_quant_conv", usePostQuantConv = "use_post_quant_conv"
        case midBlockAddAttention = "mid_block_add_attention"
    }
    public static let requiredKeys: [CodingKeys] = [.blockOutChannels]
    public static let className = "AutoencoderKL"

    public init() {}

    public init(contentsOf url: URL) throws { self = try Self.load(url) }

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.oneOf(className, .className, [Self.className])
        r.require(!blockOutChannels.isEmpty && blockOutChannels.count <= 16, .blockOutChannels,
                  "must list 1 to 16 widths, found \(blockOutChannels.count)")
        r.require(blockOutChannels.allSatisfy { (1...(1 << 16)).contains($0) }, .blockOutChannels,
                  "every width must be in 1...65536, found \(blockOutChannels)")
        r.require(downBlockTypes.count == blockOutChannels.count, .downBlockTypes,
                  "has \(downBlockTypes.count) entries, block_out_channels has \(blockOutChannels.count)",
                  inputs: [.blockOutChannels])
        r.require(upBlockTypes.count == blockOutChannels.count, .upBlockTypes,
                  "has \(upBlockTypes.count) entries, block_out_channels has \(blockOutChannels.count)",
                  inputs: [.blockOutChannels])
        for (i, t) in downBlockTypes.enumerated() where t != "DownEncoderBlock2D" {
            r.problems.report(r.path("down_block_types[\(i)]"), "'\(t)' is not supported (expected DownEncoderBlock2D)")
        }
        for (i, t) in upBlockTypes.enumerated() where t != "UpDecoderBlock2D" {
            r.problems.report(r.path("up_block_types[\(i)]"), "'\(t)' is not supported (expected UpDecoderBlock2D)")
        }
        r.oneOf(actFn, .actFn, ["silu", "swish"])
        r.within(1...(1 << 16), (inChannels, .inChannels), (outChannels, .outChannels), (latentChannels, .latentChannels),
                 (normNumGroups, .normNumGroups))
        r.within(1...64, (layersPerBlock, .layersPerBlock))
        r.require(blockOutChannels.allSatisfy { $0 % normNumGroups == 0 }, .normNumGroups,
                  "\(normNumGroups) must divide every block_out_channels entry \(blockOutChannels)",
                  inputs: [.blockOutChannels])
        r.number(scalingFactor, .scalingFactor, .positive)
        r.number(shiftFactor, .shiftFactor, .finite)
        ModelBudget.check(allocatedElements, r, keys: [.blockOutChannels, .inChannels, .outChannels, .latentChannels,
                                                       .layersPerBlock])
    }

    /// An upper bound of the parameter elements the model allocates (the test holds it to within 2× of the real
    /// count), every block sized as the widest: the encoder's and decoder's ResNet blocks, their down/upsampling
    /// convolutions and mid-block attention, and the convolutions in and out.
    public var allocatedElements: Double {
        let c = Double(blockOutChannels.max() ?? 0), n = Double(blockOutChannels.count), l = Double(layersPerBlock)
        let resnet = 19 * c * c + 8 * c
        let resnets = n * (2 * l + 1) + 4
        let ends = 9 * c * Double(inChannels + outChannels + 3 * latentChannels) + Double(16 * latentChannels * latentChannels)
        return resnets * resnet + 2 * n * (9 * c * c + c) + 2 * (4 * c * c + 6 * c) + ends + 8 * c
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
            throw ModelError("VAE input must be [B, \(config.inChannels), H, W], got \(x.shape)")
        }
        var moments = try encoder(x)
        if let quantConv { moments = try quantConv(moments) }
        return try DiagonalGaussianDistribution(moments: moments)
    }

    public func decode(_ z: Tensor) throws -> Tensor {
        guard z.rank == 4, z.size(1) == config.latentChannels else {
            throw ModelError("latents must be [B, \(config.latentChannels), h, w], got \(z.shape)")
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
        try ModelDirectory.loadModel(from: directory, weightsName: weightsName, device: device, dtype: dtype,
                                     rename: modernAttentionName) {
            AutoencoderKL(try AutoencoderKLConfig(contentsOf: $0))
        }
    }

    /// VAEs saved before diffusers 0.14 (the SD VAE among them) name the mid-block attention
    /// `query`/`key`/`value`/`proj_attn`; diffusers renames them at load time to `to_q`/`to_k`/`to_v`/`to_out.0`.
    static func modernAttentionName(_ key: String) -> String {
        guard key.contains(".attentions.") else { return key }
        var parts = key.split(separator: ".").map(String.init)
        guard parts.count >= 2 else { return key }
        let renamed = ["query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"]
        if let new = renamed[parts[parts.count - 2]] { parts[parts.count - 2] = new }
        return parts.joined(separator: ".")
    }

    public func save(to directory: URL) throws {
        try ModelDirectory.save(self, config: config.json, to: directory, weightsFilename: Self.weightsName)
    }
}
