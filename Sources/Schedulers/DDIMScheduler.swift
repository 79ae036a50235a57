import Core
import Foundation
import Torch

/// Denoising diffusion implicit models (Song et al., 2021), numerically diffusers' `DDIMScheduler`:
/// deterministic with eta = 0, DDPM-like noise with eta = 1.
public final class DDIMScheduler: DDPMFamilyScheduler {
    public static let className = "DDIMScheduler"
    public static let samplerName = "ddim"
    public static let solvesFlow = false
    public let config: DDPMFamilyConfig
    public var configJSON: JSONValue { config.json }
    public let setAlphaToOne: Bool
    public let betas: Tensor, alphas: Tensor, alphasCumprod: Tensor
    public let deviceTables = DeviceTables()
    let finalAlphaCumprod: Tensor
    public private(set) var timesteps: Tensor
    public private(set) var numInferenceSteps: Int?
    /// Weight of the stochastic part of each step (0: deterministic DDIM).
    public var eta = 0.0

    public convenience init() throws { try self.init(DDPMFamilyConfig(className: Self.className)) }

    public init(_ config: DDPMFamilyConfig) throws {
        try config.validate(file: Self.className)
        self.config = config
        setAlphaToOne = config.setAlphaToOne ?? true
        betas = try config.betas()
        alphas = try 1.0 - betas
        alphasCumprod = try alphas.cumprod(dim: 0)
        finalAlphaCumprod = setAlphaToOne ? try Tensor(scalar: 1) : try alphasCumprod[0]
        timesteps = try Tensor.arange(0, Double(config.numTrainTimesteps)).flipped([0])
    }

    public func setTimesteps(_ n: Int) throws {
        timesteps = try Tensor(try config.timesteps(n, trainSteps: numTrainTimesteps))
        numInferenceSteps = n
    }

    public func step(_ modelOutput: Tensor, timestep: Double, sample: Tensor, generator: Generator?) throws
        -> SchedulerStepOutput
    {
        guard let n = numInferenceSteps else { throw SchedulerError("call setTimesteps before step") }
        let t = try DDPMFamilyConfig.checkedTimestep(timestep, trainSteps: numTrainTimesteps, modelOutput, sample)
        let prevT = t - numTrainTimesteps / n
        let alphaProd = try alphasCumprod[t], alphaProdPrev = prevT >= 0 ? try alphasCumprod[prevT] : finalAlphaCumprod
        let betaProd = try 1 - alphaProd
        var x0 = try config.predictOriginal(modelOutput, sample: sample, alphaProd: alphaProd, betaProd: betaProd)
        var eps: Tensor
        switch predictionType {
        case .epsilon: eps = modelOutput
        case .sample: eps = try (sample - alphaProd.pow(0.5) * x0) / betaProd.pow(0.5)
        case .vPrediction: eps = try alphaProd.pow(0.5) * modelOutput + betaProd.pow(0.5) * sample
        case .flow: throw SchedulerError("prediction_type 'flow' needs FlowMatchEulerDiscreteScheduler")
        }
        x0 = try config.clipOrThreshold(x0)
        let betaProdPrev = try 1 - alphaProdPrev
        let variance = try (betaProdPrev / betaProd) * (1 - alphaProd / alphaProdPrev)
        let stdDev = try eta * variance.pow(0.5)
        let direction = try (1 - alphaProdPrev - stdDev.pow(2)).pow(0.5) * eps
        var prev = try alphaProdPrev.pow(0.5) * x0 + direction
        if eta > 0 {
            let noise = try Tensor.randn(modelOutput.shape, dtype: modelOutput.dtype,
                                         device: generator?.device ?? modelOutput.device, generator: generator)
                .to(modelOutput.device)
            prev = try prev + stdDev * noise
        }
        return SchedulerStepOutput(prevSample: prev, predOriginalSample: x0)
    }
}
