/// Exponential moving average of a module's parameters (DiT keeps one with decay 0.9999 for sampling):
/// shadow ← decay·shadow + (1 − decay)·param after each optimizer step.
public final class EMA {
    public let decay: Double
    /// Averaged copies, keyed like the module's parameters.
    public private(set) var shadow: [(String, Tensor)]
    /// The module's parameters, found once: `Module.to` moves tensors in place, so they stay the ones to follow.
    private let parameters: [Tensor]

    public init(_ module: Module, decay: Double = 0.9999) throws {
        guard (0...1).contains(decay) else { throw TorchError("EMA decay must be in [0, 1], got \(decay)") }
        self.decay = decay
        let named = module.namedParameters()
        parameters = named.map(\.1)
        shadow = try withNoGrad { try named.map { ($0.0, try $0.1.detach().clone()) } }
    }

    /// The decay used at optimizer step `step` (1 for the first update) with diffusers EMAModel's warm-up:
    /// min(decay, step / (step + 9)), so the average forgets the random initial weights within a short run.
    public func decay(atStep step: Int) -> Double { min(decay, Double(step) / Double(step + 9)) }

    /// Moves the averages toward the module's current parameters; with `step`, the decay warms up as in diffusers.
    public func update(step: Int? = nil) throws {
        let d = step.map { self.decay(atStep: max(1, $0)) } ?? decay
        // One multi-tensor lerp per device and dtype (torch._foreach_lerp_), not one kernel per parameter.
        let averages = shadow.map(\.1)
        try withNoGrad {
            for group in Foreach.groups(averages) {
                try Foreach.lerp_(group.map { averages[$0] }, group.map { parameters[$0] }, weight: 1 - d)
            }
        }
    }

    /// Copies the averages into `module` (for sampling or export).
    public func copy(to module: Module) throws {
        try module.load(stateDict: stateDict(), strict: false)
    }

    public func stateDict() -> [String: Tensor] { Dictionary(uniqueKeysWithValues: shadow) }

    /// Restores averages saved by `stateDict()`.
    public func load(stateDict: [String: Tensor]) throws {
        var missing: [String] = []
        try withNoGrad {
            for (key, avg) in shadow {
                guard let src = stateDict[key] else { missing.append(key); continue }
                guard src.shape == avg.shape else {
                    throw TorchError("EMA: \(key) has shape \(src.shape), expected \(avg.shape)")
                }
                try avg.copy_(src)
            }
        }
        if !missing.isEmpty { throw TorchError("EMA state lacks: " + missing.joined(separator: ", ")) }
    }
}
