import Core
import Foundation
import Torch

/// Rectified flow / flow matching with Euler steps (as in SD3), numerically diffusers'
/// `FlowMatchEulerDiscreteScheduler`: x_σ = (1 − σ)·x₀ + σ·ε, the model predicts the velocity ε − x₀, and each
/// step moves x by (σ_next − σ)·v.
public final class FlowMatchEulerDiscreteScheduler: NoiseScheduler {
    public static let className = "FlowMatchEulerDiscreteScheduler"
    public static let samplerName = "euler"
    public static let solvesFlow = true
    public let config: FlowMatchEulerDiscreteSchedulerConfig
    public var numTrainTimesteps: Int { config.numTrainTimesteps }

    public private(set) var timesteps: Tensor
    /// σ for each timestep, plus a final 0 (or 1 when inverted).
    public private(set) var sigmas: Tensor
    public private(set) var stepIndex: Int?
    public var predictionType: PredictionType { .flow }
    public var initNoiseSigma: Double { 1 }
    let sigmaMin: Double, sigmaMax: Double

    public convenience init() throws { try self.init(FlowMatchEulerDiscreteSchedulerConfig()) }

    public init(_ config: FlowMatchEulerDiscreteSchedulerConfig) throws {
        try config.validate(file: Self.className)
        self.config = config
        let (numTrainTimesteps, shift) = (config.numTrainTimesteps, config.shift)

        // σ = t/N for t = N…1, shifted, in float32 as diffusers computes it.
        let n = Double(numTrainTimesteps)
        var s = try Tensor.linspace(1, n, steps: numTrainTimesteps, dtype: .float32).flipped([0]) / n
        if !config.useDynamicShifting { s = try shift * s / (1 + (shift - 1) * s) }
        sigmas = s
        timesteps = try s * n
        sigmaMin = try s[numTrainTimesteps - 1].item()
        sigmaMax = try s[0].item()
    }

    public var configJSON: JSONValue { config.json }

    public func setTimesteps(_ n: Int) throws { try setTimesteps(n, mu: nil) }

    /// `mu` is the resolution-dependent shift, required when use_dynamic_shifting is on.
    public func setTimesteps(_ n: Int, mu: Double?) throws {
        guard n > 0 else { throw SchedulerError("num_inference_steps must be positive, got \(n)") }
        if config.useDynamicShifting && mu == nil { throw SchedulerError("use_dynamic_shifting needs `mu`") }
        // numpy float64 arithmetic, as diffusers does before converting to float32.
        let N = Double(numTrainTimesteps)
        let start = sigmaMax * N, stop = sigmaMin * N
        let step = n > 1 ? (stop - start) / Double(n - 1) : 0
        var s = (0..<n).map { i in (i == n - 1 && n > 1 ? stop : Double(i) * step + start) / N }
        if config.useDynamicShifting {
            s = s.map { timeShift(mu!, 1.0, $0) }
        } else {
            s = s.map { config.shift * $0 / (1 + (config.shift - 1) * $0) }
        }
        if let terminal = config.shiftTerminal, terminal != 0 {
            let scale = (1 - s[s.count - 1]) / (1 - terminal)
            s = s.map { 1 - (1 - $0) / scale }
        }
        if config.useKarrasSigmas {
            let rho = 7.0, lo = Foundation.pow(s.last!, 1 / rho), hi = Foundation.pow(s.first!, 1 / rho)
            s = (0..<n).map { i in
                let ramp = n > 1 ? (i == n - 1 ? 1.0 : Double(i) * (1.0 / Double(n - 1))) : 0
                return Foundation.pow(hi + ramp * (lo - hi), rho)
            }
        } else if config.useExponentialSigmas {
            let a = Foundation.log(s.first!), b = Foundation.log(s.last!)
            let step = n > 1 ? (b - a) / Double(n - 1) : 0
            s = (0..<n).map { i in Foundation.exp(i == n - 1 && n > 1 ? b : Double(i) * step + a) }
        }
        var sig = try Tensor(s.map { Float($0) })
        var ts = try sig * N
        if config.invertSigmas {
            sig = try 1.0 - sig
            ts = try sig * N
            sig = try Tensor.cat([sig, try Tensor.ones([1])])
        } else {
            sig = try Tensor.cat([sig, try Tensor.zeros([1])])
        }
        timesteps = ts
        sigmas = sig
        stepIndex = nil
    }

    func timeShift(_ mu: Double, _ sigma: Double, _ t: Double) -> Double {
        if config.timeShiftType == "linear" { return mu / (mu + Foundation.pow(1 / t - 1, sigma)) }
        return Foundation.exp(mu) / (Foundation.exp(mu) + Foundation.pow(1 / t - 1, sigma))
    }

    /// Index of `timestep` in the schedule (the second match if it repeats, as diffusers).
    func index(of timestep: Double) throws -> Int {
        let values = try timesteps.to(.float64).doubles()
        let matches = values.indices.filter { Float(values[$0]) == Float(timestep) }
        guard let first = matches.first else { throw SchedulerError("timestep \(timestep) is not in the schedule") }
        return matches.count > 1 ? matches[1] : first
    }

    public func step(_ modelOutput: Tensor, timestep: Double, sample: Tensor, generator: Generator?) throws
        -> SchedulerStepOutput
    {
        if stepIndex == nil { stepIndex = try index(of: timestep) }
        let i = stepIndex!
        guard i + 1 < sigmas.count else { throw SchedulerError("step called more times than there are timesteps") }
        let x = try sample.to(.float32)
        let sigma = try sigmas[i], sigmaNext = try sigmas[i + 1]
        var prev: Tensor
        // The clean-sample estimate: x = (1 − σ)·x₀ + σ·ε and v = ε − x₀ give x₀ = x − σ·v.
        let x0 = try x - sigma * modelOutput
        if config.stochasticSampling {
            let noise = try Tensor.randn(x.shape, dtype: x.dtype, device: generator?.device ?? x.device, generator: generator)
                .to(x.device)
            prev = try (1.0 - sigmaNext) * x0 + sigmaNext * noise
        } else {
            prev = try x + (sigmaNext - sigma) * modelOutput
        }
        stepIndex = i + 1
        return SchedulerStepOutput(prevSample: try prev.to(modelOutput.dtype), predOriginalSample: try x0.to(modelOutput.dtype))
    }

    /// diffusers' scale_noise: σ·ε + (1 − σ)·x₀ with σ looked up for each of `timesteps` (values of the schedule).
    public func scaleNoise(_ sample: Tensor, timesteps t: Tensor, noise: Tensor) throws -> Tensor {
        let indices = try t.to(.float64).doubles().map { try index(of: $0) }
        let s = try sigmas.to(sample.device, sample.dtype)
            .gather(dim: 0, index: Tensor(indices.map(Int64.init)).to(sample.device))
        let sigma = try broadcastPerSample(s, like: sample)
        return try sigma * noise + (1.0 - sigma) * sample
    }

    /// For training: `timesteps` are continuous in [0, N] with σ = t / N.
    public func addNoise(_ sample: Tensor, noise: Tensor, timesteps t: Tensor) throws -> Tensor {
        let sigma = try broadcastPerSample(t.to(sample.device, sample.dtype) / Double(numTrainTimesteps), like: sample)
        return try sigma * noise + (1.0 - sigma) * sample
    }

    /// The velocity ε − x₀.
    public func trainingTarget(sample: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
        try noise - sample
    }
}

/// scheduler_json of diffusers' `FlowMatchEulerDiscreteScheduler`.
public struct FlowMatchEulerDiscreteSchedulerConfig: HFConfig, Equatable, Sendable {
    public var className = FlowMatchEulerDiscreteScheduler.className
    public var diffusersVersion = "0.42.1"
    public var numTrainTimesteps = 1000
    public var shift = 1.0
    public var useDynamicShifting = false
    public var baseShift: Double? = 0.5, maxShift: Double? = 1.15
    public var baseImageSeqLen = 256, maxImageSeqLen = 4096
    public var invertSigmas = false
    public var shiftTerminal: Double? = nil
    public var useKarrasSigmas = false, useExponentialSigmas = false, useBetaSigmas = false
    public var timeShiftType = "exponential"
    public var stochasticSampling = false

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case className = "_class_name", diffusersVersion = "_diffusers_version"
        case numTrainTimesteps = "num_train_timesteps", shift, useDynamicShifting = "use_dynamic_shifting"
        case baseShift = "base_shift", maxShift = "max_shift", baseImageSeqLen = "base_image_seq_len"
        case maxImageSeqLen = "max_image_seq_len", invertSigmas = "invert_sigmas", shiftTerminal = "shift_terminal"
        case useKarrasSigmas = "use_karras_sigmas", useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas", timeShiftType = "time_shift_type"
        case stochasticSampling = "stochastic_sampling"
    }

    public init() {}

    public func check(_ r: ConfigRules<CodingKeys>) {
        r.oneOf(className, .className, [FlowMatchEulerDiscreteScheduler.className])
        r.within(1...maxTrainTimesteps, (numTrainTimesteps, .numTrainTimesteps))
        r.number(shift, .shift, .positive)
        r.require(!useBetaSigmas, .useBetaSigmas, "beta sigmas are not supported (they need scipy's beta distribution)")
        r.require(!(useKarrasSigmas && useExponentialSigmas), .useKarrasSigmas,
                  "only one of use_karras_sigmas and use_exponential_sigmas can be true")
        r.oneOf(timeShiftType, .timeShiftType, ["exponential", "linear"])
    }
}
