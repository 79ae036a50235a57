import Core
import Datasets
import Foundation
import Inference
import Recipe
import Schedulers
import Torch

/// Caption faithfulness on the shapes data: generate for prompts, read the images back with `ShapesAnalyzer`,
/// count how often each attribute (and all four at once) matches the prompt.
public struct ShapesEvaluation: Codable, Sendable {
    public struct Scores: Codable, Sendable, Equatable {
        public var count = 0
        public var color = 0.0, shape = 0.0, position = 0.0, size = 0.0, overall = 0.0
        public init() {}
    }
    public var trainDistribution = Scores()
    public var heldOut: Scores?
    public var heldOutCombinations: [String] = []
    public var steps: Int
    public var cfgScale: Double
    public var seed: UInt64
    public var checkpoint: String

    public init(trainDistribution: Scores, steps: Int, cfgScale: Double, seed: UInt64, checkpoint: String) {
        self.trainDistribution = trainDistribution
        self.steps = steps
        self.cfgScale = cfgScale
        self.seed = seed
        self.checkpoint = checkpoint
    }

    enum CodingKeys: String, CodingKey {
        case trainDistribution = "train_distribution", heldOut = "held_out", heldOutCombinations = "held_out_combinations"
        case steps, seed, checkpoint
        case cfgScale = "cfg_scale"
    }

    /// `dit eval`: scores `prompts` training-distribution prompts and, with `holdout`, `heldOutPrompts` prompts of
    /// the held-out combinations; `keep` sees each training-distribution image.
    public static func evaluate(_ run: TrainedRun, prompts: Int, holdout: [String], heldOutPrompts: Int, steps: Int,
                                cfgScale: Double, seed: UInt64, keep: ((ShapeAttributes, RGBImage) -> Void)? = nil)
        throws -> ShapesEvaluation {
        let sampler = try Components.sampler(run.config)
        let train = try score(try Self.prompts(count: prompts, excluding: holdout, seed: seed), run: run,
                              sampler: sampler, steps: steps, cfgScale: cfgScale, seed: seed, keep: keep)
        var result = ShapesEvaluation(trainDistribution: train, steps: steps, cfgScale: cfgScale, seed: seed,
                                      checkpoint: run.checkpoint.path)
        if !holdout.isEmpty {
            result.heldOutCombinations = holdout
            result.heldOut = try score(try Self.heldOutPrompts(holdout, count: heldOutPrompts, seed: seed), run: run,
                                       sampler: sampler, steps: steps, cfgScale: cfgScale, seed: seed &+ 7)
        }
        return result
    }

    /// Scores `attributes`, generated in batches of `batchSize`.
    public static func score(_ attributes: [ShapeAttributes], run: TrainedRun, sampler: any NoiseScheduler, steps: Int,
                             cfgScale: Double, seed: UInt64, batchSize: Int = 16,
                             keep: ((ShapeAttributes, RGBImage) -> Void)? = nil) throws -> Scores {
        var s = Scores()
        let pipeline = run.pipeline
        for (i, start) in stride(from: 0, to: attributes.count, by: batchSize).enumerated() {
            let part = Array(attributes[start..<min(start + batchSize, attributes.count)])
            let images = try TextToImagePipeline.images(
                try pipeline.generate(part.map { $0.caption() }, scheduler: sampler, steps: steps, guidanceScale: cfgScale,
                                      seed: seed &+ UInt64(i)))
            for (a, img) in zip(part, images) {
                keep?(a, img)
                let found = ShapesAnalyzer.analyze(img)
                s.count += 1
                if found?.color == a.color { s.color += 1 }
                if found?.shape == a.shape { s.shape += 1 }
                if found?.position == a.position { s.position += 1 }
                if found?.size == a.size { s.size += 1 }
                if found == a { s.overall += 1 }
            }
        }
        let n = Double(max(1, s.count))
        s.color /= n; s.shape /= n; s.position /= n; s.size /= n; s.overall /= n
        return s
    }

    /// `count` prompts spread evenly over the combinations outside `holdout` (seeded choice).
    public static func prompts(count: Int, excluding holdout: [String], seed: UInt64) throws -> [ShapeAttributes] {
        try pick(count, holdout, inside: false, seed: seed)
    }

    /// The combinations inside `holdout`, one per position and size.
    public static func heldOutPrompts(_ holdout: [String], count: Int, seed: UInt64) throws -> [ShapeAttributes] {
        try pick(count, holdout, inside: true, seed: seed)
    }

    private static func pick(_ count: Int, _ holdout: [String], inside: Bool, seed: UInt64) throws -> [ShapeAttributes] {
        let held = try ShapesDatasetWriter.parseHoldout(holdout)
        var pool = ShapeAttributes.all.filter { held.contains(.init(color: $0.color, shape: $0.shape)) == inside }
        var rng = SplitMix64(seed: seed)
        pool.shuffle(using: &rng)
        return Array(pool.prefix(count))
    }
}
