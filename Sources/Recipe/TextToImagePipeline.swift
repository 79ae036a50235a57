import Datasets
import Foundation
import Models
import Schedulers
import Tokenizers
import Torch

/// What `TextToImagePipeline.generate` shows of each step: (index, timestep, sample after it, x̂₀ or nil).
public typealias StepObserver = (Int, Double, Tensor, Tensor?) throws -> Void

/// Text → image with classifier-free guidance: the DiT runs on the prompt and on the empty caption, and the
/// sampler follows uncond + scale·(cond − uncond). Pixel-space models return their output directly; latent models
/// decode through the VAE.
public struct TextToImagePipeline {
    public let transformer: PixArtTransformer2DModel
    /// The encoder of prompts: the one trained with the DiT, or the frozen one whose features were cached.
    public let textEncoder: (any CaptionEncoder)?
    public let tokenizer: Tokenizer
    public let maxLength: Int
    public let vae: AutoencoderKL?
    public let device: Device

    public init(transformer: PixArtTransformer2DModel, textEncoder: (any CaptionEncoder)?, tokenizer: Tokenizer,
                maxLength: Int, vae: AutoencoderKL? = nil, device: Device = .cpu) {
        self.transformer = transformer
        self.textEncoder = textEncoder
        self.tokenizer = tokenizer
        self.maxLength = maxLength
        self.vae = vae
        self.device = device
    }

    func encode(_ prompts: [String]) throws -> (Tensor, Tensor) {
        guard let textEncoder else { throw SamplingError("no text encoder and no cached text embeddings") }
        let (ids, mask) = try tokenizer.encodeTensors(prompts, maxLength: maxLength)
        let i = try ids.to(device), m = try mask.to(device)
        return (try textEncoder.captionFeatures(ids: i, mask: m), m)
    }

    /// Images ([N, C, H, W] in [−1, 1]) for `prompts`, one per prompt, from noise drawn with `seed` (or from
    /// `initialNoise`, [N, C, h, w]). Guidance pushes away from `negativePrompt` (the empty caption by default: the
    /// unconditional model). `batchSize` images at a time bound the memory; a deterministic sampler gives the same
    /// images for any batch size.
    ///
    /// `observe` sees every step: its index, its timestep, the sample after it and the clean-sample estimate x̂₀ the
    /// sampler made from the guided prediction (both in the model's space: latents for latent models; `decode` them).
    public func generate(_ prompts: [String], scheduler: any NoiseScheduler, steps: Int, guidanceScale: Double,
                         seed: UInt64, negativePrompt: String = "", batchSize: Int? = nil,
                         initialNoise: Tensor? = nil, observe: StepObserver? = nil) throws -> Tensor {
        guard !prompts.isEmpty else { throw SamplingError("no prompts") }
        guard steps > 0 else { throw SamplingError("steps must be positive, got \(steps)") }
        let config = transformer.config
        let n = prompts.count, shape = [n, config.inChannels, config.sampleSize, config.sampleSize]
        let generator = try Generator(seed: seed)
        let noise = try initialNoise ?? Tensor.randn(shape, generator: generator)
        guard noise.shape == shape else { throw SamplingError("initial noise must be \(shape), got \(noise.shape)") }
        return try withNoGrad {
            let modes = (transformer.training, textEncoder?.training ?? false)
            transformer.eval()
            textEncoder?.eval()
            defer { transformer.train(modes.0); textEncoder?.train(modes.1) }
            var images: [Tensor] = []
            for start in stride(from: 0, to: n, by: max(1, batchSize ?? n)) {
                let end = min(start + (batchSize ?? n), n)
                images.append(try denoise(Array(prompts[start..<end]), from: try noise.slice(dim: 0, start: start, end: end),
                                          negativePrompt: negativePrompt, scheduler: scheduler, steps: steps,
                                          guidanceScale: guidanceScale, generator: generator, observe: observe))
            }
            return try Tensor.cat(images, dim: 0)
        }
    }

    /// Classifier-free guidance: uncond + scale·(cond − uncond) at every step, then the VAE's decoder.
    private func denoise(_ prompts: [String], from noise: Tensor, negativePrompt: String, scheduler: any NoiseScheduler,
                         steps: Int, guidanceScale: Double, generator: Generator, observe: StepObserver?) throws -> Tensor {
        let config = transformer.config, n = prompts.count
        let (cond, condMask) = try encode(prompts)
        let (uncond, uncondMask) = try encode(Array(repeating: negativePrompt, count: n))
        let context = try Tensor.cat([uncond, cond]), mask = try Tensor.cat([uncondMask, condMask])
        try scheduler.setTimesteps(steps)
        var x = try noise.to(device) * scheduler.initNoiseSigma
        for (k, t) in scheduler.timestepValues.enumerated() {
            let input = try Tensor.cat([x, x])
            let ts = try Tensor.full([2 * n], t, dtype: scheduler.timesteps.dtype, device: device)
            var out = try transformer(input, encoderHiddenStates: context, timestep: ts, encoderAttentionMask: mask)
            if out.size(1) != config.inChannels { out = try out.slice(dim: 1, start: 0, end: config.inChannels) }
            let halves = try out.chunked(2, dim: 0)
            let guided = try halves[0] + guidanceScale * (halves[1] - halves[0])
            let stepped = try scheduler.step(guided, timestep: t, sample: x, generator: generator)
            x = stepped.prevSample
            try observe?(k, t, x, stepped.predOriginalSample)
        }
        return try decode(x)
    }

    /// A sample of the model's space as images in [−1, 1]: through the VAE's decoder for latent models.
    public func decode(_ x: Tensor) throws -> Tensor {
        try withNoGrad {
            var x = x
            if let vae { x = try vae.decode(try vae.unscaled(x)) }
            return try x.clamp(min: -1, max: 1)
        }
    }

    /// The images as RGBImages.
    public static func images(_ batch: Tensor) throws -> [RGBImage] {
        try (0..<batch.size(0)).map { try RGBImage(tensor: try batch[$0]) }
    }
}
