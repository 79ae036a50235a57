import Core
import Foundation
import Torch

/// The scheduler_config.json keys of diffusers' DDPMScheduler and DDIMScheduler: the β schedule (beta_start,
/// beta_end, beta_schedule, trained_betas, rescale_betas_zero_snr), the prediction type and the sampling options they
/// share, plus DDPM's variance_type and DDIM's set_alpha_to_one (nil: that scheduler's default, and the key is not
/// written, so each file keeps only its own scheduler's keys).
public struct DDPMFamilyConfig: HFConfig, Equatable, Sendable {
    public var className = DDPMScheduler.className
    public var diffusersVersion = "0.42.1"
    public var numTrainTimesteps = 1000
    public var betaStart = 0.0001
    public var betaEnd = 0.02
    public var betaSchedule = "linear"
    public var trainedBetas: [Double]? = nil
    public var rescaleBetasZeroSNR = false
    public var predictionType = PredictionType.epsilon
    public var clipSample = true
    public var clipSampleRange = 1.0
    public var thresholding = false
    public var dynamicThresholdingRatio = 0.995
    public var sampleMaxValue = 1.0
    public var timestepSpacing = "leading"
    public var stepsOffset = 0
    /// DDPM only (default fixed_small).
    public var varianceType: String? = nil
    /// DDIM only (default true): ᾱ before the first step is 1 rather than ᾱ₀.
    public var setAlphaToOne: Bool? = nil

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case className = "_class_name", diffusersVersion = "_diffusers_version"
        case numTrainTimesteps = "num_train_timesteps", betaStart = "beta_start", betaEnd = "beta_end"
        case betaSchedule = "beta_schedule", trainedBetas = "trained_betas"
        case rescaleBetasZeroSNR = "rescale_betas_zero_snr", predictionType = "prediction_type"
        case clipSample = "clip_sample", clipSampleRange = "clip_sample_range", thresholding
        case dynamicThresholdingRatio = "dynamic_thresholding_ratio", sampleMaxValue = "sample_max_value"
        case timestepSpacing = "timestep_spacing", stepsOffset = "steps_offset", varianceType = "variance_type"
        case setAlphaToOne = "set_alpha_to_one"
    }

    public init() {}
    public init(className: String) { self.className = className }

    static let varianceTypes = ["fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log", "learned",
                                "learned_range"]

    public func check(_ r: ConfigRules<CodingKeys>) {
        let ddpm = className == DDPMScheduler.className
        r.oneOf(className, .className, [DDPMScheduler.className, DDIMScheduler.className])
        r.within(1...maxTrainTimesteps, (numTrainTimesteps, .numTrainTimesteps))
        r.oneOf(betaSchedule, .betaSchedule, ["linear", "scaled_linear", "squaredcos_cap_v2"] + (ddpm ? ["sigmoid"] : []))
        if let trainedBetas {
            r.require(trainedBetas.count == numTrainTimesteps, .trainedBetas,
                      "has \(trainedBetas.count) values, num_train_timesteps is \(numTrainTimesteps)",
                      inputs: [.numTrainTimesteps])
        }
        r.oneOf(predictionType.rawValue, .predictionType, ["epsilon", "sample", "v_prediction"])
        r.oneOf(timestepSpacing, .timestepSpacing, ["linspace", "leading", "trailing"])
        if let varianceType { r.oneOf(varianceType, .varianceType, Self.varianceTypes) }
    }

    func betas() throws -> Tensor {
        let n = numTrainTimesteps
        var betas: Tensor
        if let trainedBetas {
            betas = try Tensor(trainedBetas.map { Float($0) })
        } else {
            switch betaSchedule {
            case "linear":
                betas = try Tensor.linspace(betaStart, betaEnd, steps: n, dtype: .float32)
            case "scaled_linear":
                betas = try Tensor.linspace(betaStart.squareRoot(), betaEnd.squareRoot(), steps: n, dtype: .float32)
                    .pow(2)
            case "squaredcos_cap_v2":
                betas = try Tensor(DDPMFamilyConfig.cosineBetas(n).map { Float($0) })
            default:  // sigmoid
                betas = try Tensor.linspace(-6, 6, steps: n, dtype: .float32).sigmoid() * (betaEnd - betaStart)
                    + betaStart
            }
        }
        return rescaleBetasZeroSNR ? try DDPMFamilyConfig.rescaleZeroTerminalSNR(betas) : betas
    }

    /// Improved-DDPM's cosine schedule (betas_for_alpha_bar), in double precision as diffusers computes it.
    static func cosineBetas(_ n: Int, maxBeta: Double = 0.999) -> [Double] {
        func alphaBar(_ t: Double) -> Double { Foundation.pow(Foundation.cos((t + 0.008) / 1.008 * Double.pi / 2), 2) }
        return (0..<n).map { i in
            let t1 = Double(i) / Double(n), t2 = Double(i + 1) / Double(n)
            return Swift.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta)
        }
    }

    /// Lin et al. 2023: shifts the schedule so the last timestep has zero SNR.
    static func rescaleZeroTerminalSNR(_ betas: Tensor) throws -> Tensor {
        let alphasCumprod = try (1.0 - betas).cumprod(dim: 0)
        var sqrtBar = try alphasCumprod.sqrt()
        let first = try sqrtBar[0].clone(), last = try sqrtBar[sqrtBar.count - 1].clone()
        sqrtBar = try sqrtBar - last
        sqrtBar = try sqrtBar * (first / (first - last))
        let bar = try sqrtBar.pow(2)
        let alphas = try Tensor.cat([bar.slice(dim: 0, start: 0, end: 1),
                                     bar.slice(dim: 0, start: 1) / bar.slice(dim: 0, start: 0, end: bar.count - 1)])
        return try 1 - alphas
    }
}

/// Dynamic thresholding (Imagen): clamp x̂₀ to the per-sample quantile s of |x̂₀| (at least 1) and divide by s.
func thresholdSample(_ sample: Tensor, ratio: Double, maxValue: Double) throws -> Tensor {
    guard sample.rank >= 1 else { throw SchedulerError("thresholding needs a batch dimension, got a scalar") }
    let dtype = sample.dtype
    var x = dtype == .float32 || dtype == .float64 ? sample : try sample.to(.float32)
    let shape = x.shape
    x = try x.reshaped(shape[0], -1)
    let s = try x.abs().quantile(ratio, dim: 1).clamp(min: 1, max: maxValue).unsqueezed(1)
    x = try x.maximum(-s).minimum(s) / s
    return try x.reshaped(shape).to(dtype)
}
