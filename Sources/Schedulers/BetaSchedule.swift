import Foundation
import Support
import Torch

/// The β schedule shared by DDPM and DDIM (diffusers' config keys beta_start, beta_end, beta_schedule,
/// trained_betas, rescale_betas_zero_snr), computed with the same float32 ops so ᾱ matches exactly.
struct BetaSchedule: Equatable {
    var numTrainTimesteps = 1000
    var betaStart = 0.0001
    var betaEnd = 0.02
    var betaSchedule = "linear"
    var trainedBetas: [Double]? = nil
    var rescaleBetasZeroSNR = false

    static func names(allowSigmoid: Bool) -> [String] {
        ["linear", "scaled_linear", "squaredcos_cap_v2"] + (allowSigmoid ? ["sigmoid"] : [])
    }

    init() {}

    init(_ c: JSONConfig, allowSigmoid: Bool) throws {
        numTrainTimesteps = try c.int("num_train_timesteps", default: 1000)
        try c.require(numTrainTimesteps > 0, "num_train_timesteps", "must be positive, got \(numTrainTimesteps)")
        betaStart = try c.double("beta_start", default: 0.0001)
        betaEnd = try c.double("beta_end", default: 0.02)
        betaSchedule = try c.string("beta_schedule", default: "linear")
        try c.check("beta_schedule", betaSchedule, in: Self.names(allowSigmoid: allowSigmoid))
        if case .array(let items)? = c.values["trained_betas"] {
            trainedBetas = try items.enumerated().map { i, v in
                guard let d = v.doubleValue else { throw c.fail("trained_betas[\(i)]", "expected a number") }
                return d
            }
            try c.require(trainedBetas!.count == numTrainTimesteps, "trained_betas",
                          "has \(trainedBetas!.count) values, num_train_timesteps is \(numTrainTimesteps)")
        } else if c.has("trained_betas") {
            throw c.fail("trained_betas", "expected a list of numbers or null")
        }
        rescaleBetasZeroSNR = try c.bool("rescale_betas_zero_snr", default: false)
    }

    var json: [String: JSONValue] {
        [
            "num_train_timesteps": .integer(numTrainTimesteps), "beta_start": .double(betaStart),
            "beta_end": .double(betaEnd), "beta_schedule": .string(betaSchedule),
            "trained_betas": trainedBetas.map { .array($0.map { JSONValue.double($0) }) } ?? .null,
            "rescale_betas_zero_snr": .bool(rescaleBetasZeroSNR),
        ]
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
                betas = try Tensor(BetaSchedule.cosineBetas(n).map { Float($0) })
            default:  // sigmoid
                betas = try Tensor.linspace(-6, 6, steps: n, dtype: .float32).sigmoid() * (betaEnd - betaStart)
                    + betaStart
            }
        }
        return rescaleBetasZeroSNR ? try BetaSchedule.rescaleZeroTerminalSNR(betas) : betas
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
    guard sample.rank >= 1 else { throw TorchError("thresholding needs a batch dimension, got a scalar") }
    let dtype = sample.dtype
    var x = dtype == .float32 || dtype == .float64 ? sample : try sample.to(.float32)
    let shape = x.shape
    x = try x.reshaped(shape[0], -1)
    let s = try x.abs().quantile(ratio, dim: 1).clamp(min: 1, max: maxValue).unsqueezed(1)
    x = try x.maximum(-s).minimum(s) / s
    return try x.reshaped(shape).to(dtype)
}
