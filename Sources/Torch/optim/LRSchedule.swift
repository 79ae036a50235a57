import Foundation

/// Learning-rate multipliers by step, with the formulas and names of diffusers' get_scheduler:
/// constant, constant_with_warmup, linear (warmup then linear decay to 0) and cosine (warmup then half a cosine).
public enum LRSchedule: Equatable, Sendable {
    case constant
    case constantWithWarmup(warmupSteps: Int)
    case linear(warmupSteps: Int, totalSteps: Int)
    case cosine(warmupSteps: Int, totalSteps: Int, cycles: Double = 0.5)

    /// Parses a config name ("constant", "constant_with_warmup", "linear", "cosine").
    public init(name: String, warmupSteps: Int, totalSteps: Int) throws {
        switch name {
        case "constant": self = .constant  // diffusers' "constant" ignores warmup_steps
        case "constant_with_warmup": self = .constantWithWarmup(warmupSteps: warmupSteps)
        case "linear": self = .linear(warmupSteps: warmupSteps, totalSteps: totalSteps)
        case "cosine": self = .cosine(warmupSteps: warmupSteps, totalSteps: totalSteps)
        default:
            throw TorchError("unknown lr schedule '\(name)'; expected constant, constant_with_warmup, linear or cosine")
        }
    }

    /// Factor applied to the base learning rate at `step` (0-based: the factor for the first update is at 0).
    public func multiplier(at step: Int) -> Double {
        func warm(_ w: Int) -> Double? { step < w ? Double(step) / Double(Swift.max(1, w)) : nil }
        switch self {
        case .constant:
            return 1
        case .constantWithWarmup(let w):
            return warm(w) ?? 1
        case .linear(let w, let total):
            if let f = warm(w) { return f }
            return Swift.max(0, Double(total - step) / Double(Swift.max(1, total - w)))
        case .cosine(let w, let total, let cycles):
            if let f = warm(w) { return f }
            let progress = Double(step - w) / Double(Swift.max(1, total - w))
            return Swift.max(0, 0.5 * (1 + Foundation.cos(Double.pi * cycles * 2 * progress)))
        }
    }
}
