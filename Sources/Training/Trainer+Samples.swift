import Datasets
import Foundation
import Models
import Recipe
import Torch

extension Trainer {
    /// A grid of the sample prompts, generated with the EMA weights when there are any.
    public func sampleGrid() throws -> RGBImage {
        let pipeline = try samplingPipeline()
        let images = try pipeline.generate(config.run.samplePrompts, scheduler: try Components.sampler(config),
                                           steps: config.run.sampleSteps, guidanceScale: config.run.cfgScale,
                                           seed: UInt64(config.run.seed))
        return imageGrid(try TextToImagePipeline.images(images), columns: 4, scale: max(1, 96 / config.data.imageSize),
                         labels: config.run.samplePrompts)
    }

    /// The models a grid samples with. Building modules draws initial weights, so the training run's random stream
    /// is saved and put back: a run that samples and one resumed from a checkpoint stay step for step the same.
    func samplingPipeline() throws -> TextToImagePipeline {
        let rng = try Generator.globalState()
        defer { try? Generator.setGlobalState(rng) }
        var target = models
        if let ema {
            // Sample with a copy that holds the averaged weights, leaving the trained ones untouched.
            let copy = DiffusionModels(transformer: try PixArtTransformer2DModel(models.transformer.config),
                                       textEncoder: models.textEncoder.map { CLIPTextModel($0.config) })
            try copy.to(device)
            try ema.copy(to: copy)
            target = copy
        }
        let frozen = try self.frozen ?? Components.frozenParts(config, device: device)
        self.frozen = frozen
        return TextToImagePipeline(transformer: target.transformer, textEncoder: target.textEncoder ?? frozen.textEncoder,
                                   tokenizer: data.tokenizer, maxLength: config.textEncoder.maxLength, vae: frozen.vae,
                                   device: device)
    }
}
