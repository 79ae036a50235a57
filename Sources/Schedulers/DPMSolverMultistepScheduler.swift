import Core
import Foundation
import Torch

/// DPM-Solver++ (Lu et al., 2022), numerically diffusers' `DPMSolverMultistepScheduler`, PixArt-α's default sampler:
/// a multistep solver of the diffusion ODE in log-SNR time λ = log(α/σ) that reuses the last one or two model outputs,
/// so 15-25 steps give what DDIM needs 50 for. `dpmsolver++` works on the predicted clean sample, `dpmsolver` on the
/// predicted noise, `sde-dpmsolver++` adds fresh noise each step.
public final class DPMSolverMultistepScheduler: NoiseScheduler {
    public static let className = "DPMSolverMultistepScheduler"
    public static let samplerName = "dpmsolver++"
    public static let solvesFlow = false
    public let config: DPMSolverMultistepSchedulerConfig
    public let betas: Tensor, alphasCumprod: Tensor
    /// σ = √((1 − ᾱ)/ᾱ) of the inference timesteps, plus the final one (0, or the smallest training σ).
    public private(set) var sigmas: Tensor
    public private(set) var timesteps: Tensor
    public var numTrainTimesteps: Int { config.numTrainTimesteps }
    public var predictionType: PredictionType { config.predictionType }
    public var initNoiseSigma: Double { 1 }
    public var configJSON: JSONValue { config.json }
    /// The converted outputs of the last `solver_order` steps, oldest first.
    private var modelOutputs: [Tensor?]
    private var lowerOrderNums = 0
    private var stepIndex: Int?
    private let lambdaT: Tensor

    public convenience init() throws { try self.init(DPMSolverMultistepSchedulerConfig()) }

    public init(_ config: DPMSolverMultistepSchedulerConfig) throws {
        try config.validate(file: Self.className)
        self.config = config
        betas = try config.schedule.betas()
        var cumprod = try (1.0 - betas).cumprod(dim: 0)
        if config.rescaleBetasZeroSNR {  // the rescaled ᾱ_T = 0 would make σ infinite; diffusers uses 2^−24
            cumprod = try Tensor.cat([cumprod.slice(dim: 0, start: 0, end: config.numTrainTimesteps - 1),
                                      Tensor.full([1], 0x1p-24)])
        }
        alphasCumprod = cumprod
        lambdaT = try cumprod.sqrt().log() - (1 - cumprod).sqrt().log()
        sigmas = try ((1 - cumprod) / cumprod).pow(0.5)
        timesteps = try Tensor.arange(0, Double(config.numTrainTimesteps)).flipped([0])
        modelOutputs = Array(repeating: nil, count: config.solverOrder)
    }

    public func setTimesteps(_ n: Int) throws {
        guard n > 0 else { throw SchedulerError("num_inference_steps must be positive, got \(n)") }
        // Skip timesteps whose λ is below lambda_min_clipped (numerical stability of the cosine schedule).
        let flippedLambda = try lambdaT.flipped([0]).doubles()
        let clipped = flippedLambda.firstIndex { $0 >= config.lambdaMinClipped } ?? flippedLambda.count
        let last = config.numTrainTimesteps - clipped
        // numpy arithmetic, as diffusers computes the schedule.
        var steps: [Double]
        switch config.timestepSpacing {
        case "linspace":
            let stop = Double(last - 1), delta = stop / Double(n)
            steps = Array((0...n).map { $0 == n ? stop : Double($0) * delta }.reversed().dropLast())
        case "leading":
            let ratio = Double(last / (n + 1))
            steps = (0...n).map { Double($0) * ratio }.reversed().dropLast().map { $0 + Double(config.stepsOffset) }
        default:  // trailing
            let ratio = Double(config.numTrainTimesteps) / Double(n)
            let count = Int((Double(last) / ratio).rounded(.up))  // np.arange(last, 0, -ratio)'s length
            steps = (0..<count).map { (Double(last) - Double($0) * ratio).rounded(.toNearestOrEven) - 1 }
        }
        let ints = steps.map { Int64($0.rounded(.toNearestOrEven)) }
        let all = try ((1 - alphasCumprod) / alphasCumprod).pow(0.5)
        let last_ = config.finalSigmasType == "sigma_min" ? try all[0].reshaped(1) : try Tensor.zeros([1])
        sigmas = try Tensor.cat([all.indexSelect(dim: 0, index: Tensor(ints)), last_])
        timesteps = try Tensor(ints)
        modelOutputs = Array(repeating: nil, count: config.solverOrder)
        lowerOrderNums = 0
        stepIndex = nil
    }

    /// (α_t, σ_t) of the variance-preserving process for the σ = √((1 − ᾱ)/ᾱ) at `i`.
    private func alphaSigma(_ i: Int) throws -> (alpha: Tensor, sigma: Tensor) {
        let s = try sigmas[i]
        let alpha = try 1 / (s.pow(2) + 1).pow(0.5)
        return (alpha, try s * alpha)
    }

    private func lambda(_ a: (alpha: Tensor, sigma: Tensor)) throws -> Tensor { try a.alpha.log() - a.sigma.log() }

    /// The model output as the solver integrates it: x̂₀ (dpmsolver++) or ε̂ (dpmsolver).
    private func converted(_ modelOutput: Tensor, sample: Tensor) throws -> Tensor {
        let (alpha, sigma) = try alphaSigma(stepIndex!)
        var out = modelOutput
        if ["learned", "learned_range"].contains(config.varianceType ?? "") {
            out = try out.slice(dim: 1, start: 0, end: 3)  // diffusers keeps the first 3 channels
        }
        if config.algorithmType.hasSuffix("dpmsolver++") {
            var x0 = switch predictionType {
            case .epsilon: try (sample - sigma * out) / alpha
            case .vPrediction: try alpha * sample - sigma * out
            default: out  // sample
            }
            if config.thresholding { x0 = try thresholdSample(x0, ratio: config.dynamicThresholdingRatio, maxValue: config.sampleMaxValue) }
            return x0
        }
        var eps = switch predictionType {
        case .sample: try (sample - alpha * out) / sigma
        case .vPrediction: try alpha * out + sigma * sample
        default: out  // epsilon
        }
        if config.thresholding {
            let x0 = try thresholdSample(try (sample - sigma * eps) / alpha, ratio: config.dynamicThresholdingRatio,
                                         maxValue: config.sampleMaxValue)
            eps = try (sample - alpha * x0) / sigma
        }
        return eps
    }

    public func step(_ modelOutput: Tensor, timestep: Double, sample: Tensor, generator: Generator?) throws
        -> SchedulerStepOutput
    {
        guard timesteps.count > 0, sigmas.count == timesteps.count + 1 else {
            throw SchedulerError("call setTimesteps before step")
        }
        if stepIndex == nil {
            let values = try timesteps.doubles()
            let matches = values.indices.filter { values[$0] == timestep }
            stepIndex = matches.isEmpty ? values.count - 1 : matches.count > 1 ? matches[1] : matches[0]
        }
        let i = stepIndex!, n = timesteps.count
        guard i < n else { throw SchedulerError("step called more times than there are timesteps") }
        let lowerOrderFinal = i == n - 1
            && (config.eulerAtFinal || (config.lowerOrderFinal && n < 15) || config.finalSigmasType == "zero")
        let lowerOrderSecond = i == n - 2 && config.lowerOrderFinal && n < 15
        let m = try converted(modelOutput, sample: sample)
        modelOutputs = Array(modelOutputs.dropFirst()) + [m]
        let x = try sample.to(.float32)
        var noise: Tensor?
        if config.algorithmType == "sde-dpmsolver++" {
            noise = try Tensor.randn(m.shape, dtype: .float32, device: generator?.device ?? m.device, generator: generator)
                .to(m.device)
        }
        let prev: Tensor
        if config.solverOrder == 1 || lowerOrderNums < 1 || lowerOrderFinal {
            prev = try firstOrder(m, sample: x, noise: noise)
        } else if config.solverOrder == 2 || lowerOrderNums < 2 || lowerOrderSecond {
            prev = try secondOrder(sample: x, noise: noise)
        } else {
            prev = try thirdOrder(sample: x)
        }
        // The clean-sample estimate of this step: the converted output itself for dpmsolver++, else from ε.
        let x0: Tensor
        if config.algorithmType.hasSuffix("dpmsolver++") {
            x0 = m
        } else {
            let (alpha, sigma) = try alphaSigma(i)
            x0 = try (x - sigma * m) / alpha
        }
        if lowerOrderNums < config.solverOrder { lowerOrderNums += 1 }
        stepIndex = i + 1
        return SchedulerStepOutput(prevSample: try prev.to(m.dtype), predOriginalSample: try x0.to(m.dtype))
    }

    /// One DPM-Solver step of order 1 (DDIM in λ-time).
    private func firstOrder(_ m: Tensor, sample: Tensor, noise: Tensor?) throws -> Tensor {
        let t = try alphaSigma(stepIndex! + 1), s = try alphaSigma(stepIndex!)
        let h = try lambda(t) - lambda(s)
        switch config.algorithmType {
        case "dpmsolver++": return try (t.sigma / s.sigma) * sample - (t.alpha * ((-h).exp() - 1.0)) * m
        case "dpmsolver": return try (t.alpha / s.alpha) * sample - (t.sigma * (h.exp() - 1.0)) * m
        default:  // sde-dpmsolver++
            return try (t.sigma / s.sigma * (-h).exp()) * sample + (t.alpha * (1 - (-2.0 * h).exp())) * m
                + t.sigma * (1.0 - (-2 * h).exp()).sqrt() * noise!
        }
    }

    /// Order 2 from the last two outputs: D0 = m0, D1 = (m0 − m1)/r0 with r0 = h₀/h.
    private func secondOrder(sample: Tensor, noise: Tensor?) throws -> Tensor {
        let i = stepIndex!
        let t = try alphaSigma(i + 1), s0 = try alphaSigma(i), s1 = try alphaSigma(i - 1)
        let m0 = modelOutputs[modelOutputs.count - 1]!, m1 = modelOutputs[modelOutputs.count - 2]!
        let h = try lambda(t) - lambda(s0), h0 = try lambda(s0) - lambda(s1)
        let r0 = try h0 / h
        let d0 = m0, d1 = try (1.0 / r0) * (m0 - m1)
        let midpoint = config.solverType == "midpoint"
        switch config.algorithmType {
        case "dpmsolver++":
            let x = try (t.sigma / s0.sigma) * sample - (t.alpha * ((-h).exp() - 1.0)) * d0
            return midpoint ? try x - 0.5 * (t.alpha * ((-h).exp() - 1.0)) * d1
                : try x + (t.alpha * (((-h).exp() - 1.0) / h + 1.0)) * d1
        case "dpmsolver":
            let x = try (t.alpha / s0.alpha) * sample - (t.sigma * (h.exp() - 1.0)) * d0
            return midpoint ? try x - 0.5 * (t.sigma * (h.exp() - 1.0)) * d1
                : try x - (t.sigma * ((h.exp() - 1.0) / h - 1.0)) * d1
        default:  // sde-dpmsolver++
            let x = try (t.sigma / s0.sigma * (-h).exp()) * sample + (t.alpha * (1 - (-2.0 * h).exp())) * d0
            let d1Term = midpoint ? try 0.5 * (t.alpha * (1 - (-2.0 * h).exp())) * d1
                : try (t.alpha * ((1.0 - (-2.0 * h).exp()) / (-2.0 * h) + 1.0)) * d1
            return try x + d1Term + t.sigma * (1.0 - (-2 * h).exp()).sqrt() * noise!
        }
    }

    /// Order 3 from the last three outputs (dpmsolver++ and dpmsolver; the SDE variant falls back in validation).
    private func thirdOrder(sample: Tensor) throws -> Tensor {
        let i = stepIndex!
        let t = try alphaSigma(i + 1), s0 = try alphaSigma(i), s1 = try alphaSigma(i - 1), s2 = try alphaSigma(i - 2)
        let c = modelOutputs.count
        let m0 = modelOutputs[c - 1]!, m1 = modelOutputs[c - 2]!, m2 = modelOutputs[c - 3]!
        let h = try lambda(t) - lambda(s0), h0 = try lambda(s0) - lambda(s1), h1 = try lambda(s1) - lambda(s2)
        let r0 = try h0 / h, r1 = try h1 / h
        let d10 = try (1.0 / r0) * (m0 - m1), d11 = try (1.0 / r1) * (m1 - m2)
        let d1 = try d10 + (r0 / (r0 + r1)) * (d10 - d11), d2 = try (1.0 / (r0 + r1)) * (d10 - d11)
        if config.algorithmType == "dpmsolver++" {
            return try (t.sigma / s0.sigma) * sample - (t.alpha * ((-h).exp() - 1.0)) * m0
                + (t.alpha * (((-h).exp() - 1.0) / h + 1.0)) * d1
                - (t.alpha * (((-h).exp() - 1.0 + h) / h.pow(2) - 0.5)) * d2
        }
        return try (t.alpha / s0.alpha) * sample - (t.sigma * (h.exp() - 1.0)) * m0
            - (t.sigma * ((h.exp() - 1.0) / h - 1.0)) * d1 - (t.sigma * ((h.exp() - 1.0 - h) / h.pow(2) - 0.5)) * d2
    }

    /// diffusers' add_noise for this scheduler: α_t·x₀ + σ_t·ε with σ looked up among the inference timesteps (the
    /// last one for a timestep not among them).
    public func addNoise(_ sample: Tensor, noise: Tensor, timesteps t: Tensor) throws -> Tensor {
        let schedule = try timesteps.doubles()
        let indices = try t.to(.float64).doubles().map { v -> Int64 in
            let matches = schedule.indices.filter { schedule[$0] == v }
            return Int64(matches.isEmpty ? schedule.count - 1 : matches.count > 1 ? matches[1] : matches[0])
        }
        let picked = try sigmas.to(sample.device, sample.dtype).gather(dim: 0, index: Tensor(indices).to(sample.device))
        let sigma = try broadcastPerSample(picked, like: sample)
        let alpha = try 1 / (sigma.pow(2) + 1).pow(0.5)
        return try alpha * sample + sigma * alpha * noise
    }

    /// A sampler, not a training process: training draws its targets from DDPM's (the same ᾱ).
    public func trainingTarget(sample: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
        throw SchedulerError("DPMSolverMultistepScheduler samples; train with DDPMScheduler (the same noise schedule)")
    }
}

/// scheduler_config.json of diffusers' `DPMSolverMultistepScheduler`. The β schedule keys are DDPM's.
public struct DPMSolverMultistepSchedulerConfig: HFConfig, Equatable, Sendable {
    public var className = DPMSolverMultistepScheduler.className
    public var diffusersVersion = "0.42.1"
    public var numTrainTimesteps = 1000
    public var betaStart = 0.0001, betaEnd = 0.02
    public var betaSchedule = "linear"
    public var trainedBetas: [Double]? = nil
    public var solverOrder = 2
    public var predictionType = PredictionType.epsilon
    public var thresholding = false
    public var dynamicThresholdingRatio = 0.995, sampleMaxValue = 1.0
    public var algorithmType = "dpmsolver++"
    public var solverType = "midpoint"
    public var lowerOrderFinal = true, eulerAtFinal = false
    public var useKarrasSigmas = false, useExponentialSigmas = false, useBetaSigmas = false, useLuLambdas = false
    public var useFlowSigmas = false
    public var flowShift = 1.0
    public var finalSigmasType = "zero"
    public var lambdaMinClipped = -Double.infinity
    public var varianceType: String? = nil
    public var timestepSpacing = "linspace"
    public var stepsOffset = 0
    public var rescaleBetasZeroSNR = false
    public var useDynamicShifting = false
    public var timeShiftType = "exponential"

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case className = "_class_name", diffusersVersion = "_diffusers_version"
        case numTrainTimesteps = "num_train_timesteps", betaStart = "beta_start", betaEnd = "beta_end"
        case betaSchedule = "beta_schedule", trainedBetas = "trained_betas", solverOrder = "solver_order"
        case predictionType = "prediction_type", thresholding, dynamicThresholdingRatio = "dynamic_thresholding_ratio"
        case sampleMaxValue = "sample_max_value", algorithmType = "algorithm_type", solverType = "solver_type"
        case lowerOrderFinal = "lower_order_final", eulerAtFinal = "euler_at_final"
        case useKarrasSigmas = "use_karras_sigmas", useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas", useLuLambdas = "use_lu_lambdas", useFlowSigmas = "use_flow_sigmas"
        case flowShift = "flow_shift", finalSigmasType = "final_sigmas_type", lambdaMinClipped = "lambda_min_clipped"
        case varianceType = "variance_type", timestepSpacing = "timestep_spacing", stepsOffset = "steps_offset"
        case rescaleBetasZeroSNR = "rescale_betas_zero_snr", useDynamicShifting = "use_dynamic_shifting"
        case timeShiftType = "time_shift_type"
    }

    public init() {}

    /// The β schedule keys, read by DDPM's code.
    var schedule: DDPMFamilyConfig {
        var c = DDPMFamilyConfig()
        (c.numTrainTimesteps, c.betaStart, c.betaEnd, c.betaSchedule) = (numTrainTimesteps, betaStart, betaEnd, betaSchedule)
        (c.trainedBetas, c.rescaleBetasZeroSNR) = (trainedBetas, rescaleBetasZeroSNR)
        return c
    }

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.oneOf(className, .className, [DPMSolverMultistepScheduler.className])
        r.within(2...maxTrainTimesteps, (numTrainTimesteps, .numTrainTimesteps))
        r.oneOf(betaSchedule, .betaSchedule, ["linear", "scaled_linear", "squaredcos_cap_v2"])
        r.within(1...3, (solverOrder, .solverOrder))
        r.oneOf(algorithmType, .algorithmType, ["dpmsolver++", "dpmsolver", "sde-dpmsolver++"])
        r.require(algorithmType != "sde-dpmsolver++" || solverOrder < 3, .solverOrder,
                  "3 is not supported with sde-dpmsolver++", inputs: [.algorithmType])
        r.oneOf(solverType, .solverType, ["midpoint", "heun"])
        r.oneOf(predictionType.rawValue, .predictionType, ["epsilon", "sample", "v_prediction"])
        r.oneOf(finalSigmasType, .finalSigmasType, ["zero", "sigma_min"])
        r.require(algorithmType != "dpmsolver" || finalSigmasType == "sigma_min", .finalSigmasType,
                  "'zero' is not supported with algorithm_type dpmsolver (diffusers refuses it too)",
                  inputs: [.algorithmType])
        r.oneOf(timestepSpacing, .timestepSpacing, ["linspace", "leading", "trailing"])
        for (key, on) in [(CodingKeys.useKarrasSigmas, useKarrasSigmas), (.useExponentialSigmas, useExponentialSigmas),
                          (.useBetaSigmas, useBetaSigmas), (.useLuLambdas, useLuLambdas),
                          (.useFlowSigmas, useFlowSigmas), (.useDynamicShifting, useDynamicShifting)] {
            r.require(!on, key, "is not supported (DiTKit follows the model's own σ schedule)")
        }
    }
}
