import Core
import Foundation
import Torch

/// The sampling arithmetic DDPM and DDIM share (timestep spacing, x̂₀, clipping), with diffusers' operation order.
extension DDPMFamilyConfig {
    /// Inference timesteps for `n` steps out of `trainSteps`, as diffusers' set_timesteps (numpy arithmetic).
    func timesteps(_ n: Int, trainSteps: Int) throws -> [Int64] {
        guard n > 0 else { throw SchedulerError("num_inference_steps must be positive, got \(n)") }
        guard n <= trainSteps else {
            throw SchedulerError("num_inference_steps \(n) cannot exceed num_train_timesteps \(trainSteps)")
        }
        switch timestepSpacing {
        case "linspace":
            let stop = Double(trainSteps - 1), step = n > 1 ? stop / Double(n - 1) : 0
            let values = (0..<n).map { i in i == n - 1 && n > 1 ? stop : Double(i) * step }
            return values.reversed().map { Int64($0.rounded(.toNearestOrEven)) }
        case "leading":
            let ratio = trainSteps / n
            return (0..<n).reversed().map { Int64($0 * ratio + stepsOffset) }
        default:  // trailing
            let ratio = Double(trainSteps) / Double(n)
            let count = Int((Double(trainSteps) / ratio).rounded(.up))
            return (0..<count).map { Int64((Double(trainSteps) + Double($0) * -ratio).rounded(.toNearestOrEven)) - 1 }
        }
    }

    /// x̂₀ and ε̂ from the model output (DDPM/DDIM formulas with diffusers' operation order).
    func predictOriginal(_ out: Tensor, sample: Tensor, alphaProd: Tensor, betaProd: Tensor) throws -> Tensor {
        switch predictionType {
        case .epsilon: return try (sample - betaProd.pow(0.5) * out) / alphaProd.pow(0.5)
        case .sample: return out
        case .vPrediction: return try alphaProd.pow(0.5) * sample - betaProd.pow(0.5) * out
        case .flow: throw SchedulerError("prediction_type 'flow' needs FlowMatchEulerDiscreteScheduler")
        }
    }

    /// The integer timestep of a DDPM/DDIM step, after checking the step's inputs.
    static func checkedTimestep(_ timestep: Double, trainSteps: Int, _ modelOutput: Tensor, _ sample: Tensor) throws -> Int {
        guard timestep.isFinite, timestep >= 0, timestep < Double(trainSteps), sample.rank >= 2,
              modelOutput.rank == sample.rank else {
            throw SchedulerError("step needs a timestep in [0, \(trainSteps)) and [B, C, ...] tensors; got \(timestep), "
                + "\(modelOutput.shape) and \(sample.shape)")
        }
        return Int(timestep)
    }

    func clipOrThreshold(_ x0: Tensor) throws -> Tensor {
        if thresholding { return try thresholdSample(x0, ratio: dynamicThresholdingRatio, maxValue: sampleMaxValue) }
        if clipSample { return try x0.clamp(min: -clipSampleRange, max: clipSampleRange) }
        return x0
    }
}

/// DDPM and DDIM: the ᾱ-parameterised forward process they share (noising, training targets) and their config.
public protocol DDPMFamilyScheduler: NoiseScheduler {
    var config: DDPMFamilyConfig { get }
    var alphasCumprod: Tensor { get }
    /// ᾱ on the devices training runs on, copied once.
    var deviceTables: DeviceTables { get }
}

extension DDPMFamilyScheduler {
    public var initNoiseSigma: Double { 1 }
    public var numTrainTimesteps: Int { config.numTrainTimesteps }
    public var predictionType: PredictionType { config.predictionType }
    /// √ᾱ_t and √(1 − ᾱ_t) for each sample's timestep, broadcast over the sample's other dimensions.
    func alphaNoised(_ sample: Tensor, _ timesteps: Tensor) throws -> (sqrtAlpha: Tensor, sqrtOneMinusAlpha: Tensor) {
        // gather, not index_select: the same lookup, and it also runs on the meta device the device tests use.
        let ac = try deviceTables.table(alphasCumprod, named: "alphas_cumprod", on: sample.device, sample.dtype)
        let picked = try ac.gather(dim: 0, index: timesteps.to(sample.device, .int64).flattened())
        return (try broadcastPerSample(picked.pow(0.5), like: sample),
                try broadcastPerSample((1 - picked).pow(0.5), like: sample))
    }

    public func addNoise(_ sample: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
        let (a, b) = try alphaNoised(sample, timesteps)
        return try a * sample + b * noise
    }

    /// v = √ᾱ·ε − √(1−ᾱ)·x₀ (Salimans & Ho).
    public func velocity(sample: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
        let (a, b) = try alphaNoised(sample, timesteps)
        return try a * noise - b * sample
    }

    public func trainingTarget(sample: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
        switch predictionType {
        case .epsilon: return noise
        case .sample: return sample
        case .vPrediction: return try velocity(sample: sample, noise: noise, timesteps: timesteps)
        case .flow: throw SchedulerError("prediction_type 'flow' needs FlowMatchEulerDiscreteScheduler")
        }
    }
}

/// Denoising diffusion probabilistic models (Ho et al., 2020), numerically diffusers' `DDPMScheduler`.
public final class DDPMScheduler: DDPMFamilyScheduler {
    public static let className = "DDPMScheduler"
    public static let samplerName = "ddpm"
    public static let solvesFlow = false
    public let config: DDPMFamilyConfig
    public let varianceType: String
    public let betas: Tensor, alphas: Tensor, alphasCumprod: Tensor
    public let deviceTables = DeviceTables()
    public private(set) var timesteps: Tensor
    public private(set) var numInferenceSteps: Int?
    let one: Tensor
    public var configJSON: JSONValue { config.json }

    public convenience init() throws { try self.init(DDPMFamilyConfig()) }

    public init(_ config: DDPMFamilyConfig) throws {
        try config.validate(file: Self.className)
        self.config = config
        varianceType = config.varianceType ?? "fixed_small"
        betas = try config.betas()
        alphas = try 1.0 - betas
        alphasCumprod = try alphas.cumprod(dim: 0)
        one = try Tensor(scalar: 1)
        timesteps = try Tensor.arange(0, Double(config.numTrainTimesteps)).flipped([0])
    }

    public func setTimesteps(_ n: Int) throws {
        timesteps = try Tensor(try config.timesteps(n, trainSteps: numTrainTimesteps))
        numInferenceSteps = n
    }

    func previousTimestep(_ t: Int) throws -> Int {
        guard numInferenceSteps != nil else { return t - 1 }
        let values = try timesteps.ints()
        guard let i = values.firstIndex(of: t) else {
            throw SchedulerError("timestep \(t) is not one of the scheduler's timesteps \(values)")
        }
        return i + 1 < values.count ? values[i + 1] : -1
    }

    func variance(_ t: Int, predicted: Tensor?) throws -> Tensor {
        let prevT = try previousTimestep(t)
        let alphaProd = try alphasCumprod[t], alphaProdPrev = prevT >= 0 ? try alphasCumprod[prevT] : one
        let currentBeta = try 1 - alphaProd / alphaProdPrev
        var v = try ((1 - alphaProdPrev) / (1 - alphaProd) * currentBeta).clamp(min: 1e-20)
        switch varianceType {
        case "fixed_small_log": v = try (0.5 * v.log()).exp()
        case "fixed_large": v = currentBeta
        case "fixed_large_log": v = try currentBeta.log()
        case "learned": return try predicted.orThrow("variance_type 'learned' needs a model with 2×channels output")
        case "learned_range":
            let p = try predicted.orThrow("variance_type 'learned_range' needs a model with 2×channels output")
            let minLog = try v.log(), maxLog = try currentBeta.log()
            let frac = try (p + 1) / 2
            v = try frac * maxLog + (1 - frac) * minLog
        default: break
        }
        return v
    }

    public func step(_ modelOutput: Tensor, timestep: Double, sample: Tensor, generator: Generator?) throws
        -> SchedulerStepOutput
    {
        let t = try DDPMFamilyConfig.checkedTimestep(timestep, trainSteps: numTrainTimesteps, modelOutput, sample)
        let prevT = try previousTimestep(t)
        var output = modelOutput, predictedVariance: Tensor? = nil
        if modelOutput.size(1) == sample.size(1) * 2 && ["learned", "learned_range"].contains(varianceType) {
            let parts = try modelOutput.split(size: sample.size(1), dim: 1)
            output = parts[0]
            predictedVariance = parts[1]
        }
        let alphaProd = try alphasCumprod[t], alphaProdPrev = prevT >= 0 ? try alphasCumprod[prevT] : one
        let betaProd = try 1 - alphaProd, betaProdPrev = try 1 - alphaProdPrev
        let currentAlpha = try alphaProd / alphaProdPrev, currentBeta = try 1 - currentAlpha
        let x0 = try config.clipOrThreshold(
            try config.predictOriginal(output, sample: sample, alphaProd: alphaProd, betaProd: betaProd))
        let x0Coeff = try (alphaProdPrev.pow(0.5) * currentBeta) / betaProd
        let sampleCoeff = try currentAlpha.pow(0.5) * betaProdPrev / betaProd
        var prev = try x0Coeff * x0 + sampleCoeff * sample
        if t > 0 {
            // Drawn where the generator lives, then moved (a CPU generator can seed a CUDA run).
            let noise = try Tensor.randn(output.shape, dtype: output.dtype, device: generator?.device ?? output.device,
                                         generator: generator).to(output.device)
            let v = try variance(t, predicted: predictedVariance)
            switch varianceType {
            case "fixed_small_log": prev = try prev + v * noise
            case "learned_range": prev = try prev + (0.5 * v).exp() * noise
            default: prev = try prev + v.pow(0.5) * noise
            }
        }
        return SchedulerStepOutput(prevSample: prev, predOriginalSample: x0)
    }
}

extension Optional where Wrapped == Tensor {
    func orThrow(_ message: String) throws -> Tensor {
        guard let v = self else { throw SchedulerError(message) }
        return v
    }
}
