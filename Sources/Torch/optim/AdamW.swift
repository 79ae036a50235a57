import CTorch
import Foundation

/// AdamW (Loshchilov & Hutter), numerically torch.optim.AdamW. On CPU and CUDA it runs libtorch's fused kernel
/// (`_fused_adamw_`, one call for all parameters, step counts included); `fused: false` runs the same update as
/// PyTorch's single-tensor loop, op by op. With a GradScaler, `step(foundInf:)` skips the update on the device, as
/// `GradScaler.step` does with `AdamW(fused=True)`: no value is read back by the host.
public final class AdamW {
    public var lr: Double
    public var beta1: Double, beta2: Double, eps: Double, weightDecay: Double
    public let fused: Bool
    /// Parameters with their keys (the keys name the saved state).
    public let parameters: [(String, Tensor)]

    final class State {
        let expAvg: Tensor, expAvgSq: Tensor
        let step: Tensor  // float32 scalar, as torch keeps it
        init(expAvg: Tensor, expAvgSq: Tensor, step: Tensor) {
            self.expAvg = expAvg
            self.expAvgSq = expAvgSq
            self.step = step
        }
    }
    private var state: [Int: State] = [:]

    public init(_ parameters: [(String, Tensor)], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 1e-2, fused: Bool = true) throws {
        guard lr >= 0 else { throw TorchError("AdamW: invalid learning rate \(lr)") }
        guard (0..<1).contains(betas.0), (0..<1).contains(betas.1) else {
            throw TorchError("AdamW: betas must be in [0, 1), got \(betas)")
        }
        guard eps >= 0, weightDecay >= 0 else { throw TorchError("AdamW: eps and weight decay must be >= 0") }
        self.parameters = parameters
        self.lr = lr
        self.beta1 = betas.0
        self.beta2 = betas.1
        self.eps = eps
        self.weightDecay = weightDecay
        self.fused = fused
    }

    public convenience init(_ module: Module, lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 1e-2, fused: Bool = true) throws {
        try self.init(module.namedParameters(), lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, fused: fused)
    }

    /// The number of updates applied so far (that of the first parameter with state).
    public var stepCount: Int {
        guard let s = state.values.first, let v = try? s.step.item() else { return 0 }
        return Int(v)
    }

    private func stateFor(_ i: Int) throws -> State {
        if let s = state[i] { return s }
        let p = parameters[i].1
        let s = try withNoGrad {
            State(expAvg: try p.zerosLike(), expAvgSq: try p.zerosLike(),
                  step: try Tensor(scalar: 0, dtype: .float32, device: p.device))
        }
        state[i] = s
        return s
    }

    /// One update of every parameter that has a gradient. `gradScale` (a scalar tensor) divides the gradients first;
    /// where `foundInf` (a float32 scalar on the parameters' device) is nonzero nothing changes — weights, moments,
    /// step counts — and the host never has to look.
    public func step(gradScale: Tensor? = nil, foundInf: Tensor? = nil) throws {
        var params: [Tensor] = [], grads: [Tensor] = [], states: [State] = []
        for (i, (_, p)) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            params.append(p)
            grads.append(g)
            states.append(try stateFor(i))
        }
        if params.isEmpty { return }
        if fused {
            try fusedStep(params, grads, states, gradScale: gradScale, foundInf: foundInf)
        } else {
            // The reference loop reads the flag (a host synchronisation); the trainer runs fused.
            if let foundInf, try foundInf.item() != 0 { return }
            try withNoGrad {
                if let gradScale { for g in grads { try g.div_(gradScale) } }
                try loopStep(params, grads, states)
            }
        }
    }

    private func fusedStep(_ params: [Tensor], _ grads: [Tensor], _ states: [State], gradScale: Tensor?,
                           foundInf: Tensor?) throws {
        // The fused kernel takes tensors of one device and dtype per call (it increments the step counts first).
        for idx in Foreach.groups(params) {
            let status = withHandles(idx.map { params[$0] }) { p, n in
                withHandles(idx.map { grads[$0] }) { g, _ in
                    withHandles(idx.map { states[$0].expAvg }) { m, _ in
                        withHandles(idx.map { states[$0].expAvgSq }) { v, _ in
                            withHandles(idx.map { states[$0].step }) { s, _ in
                                ct_fused_adamw_(p, g, m, v, s, n, lr, beta1, beta2, weightDecay, eps, false,
                                                gradScale?.handle, foundInf?.handle)
                            }
                        }
                    }
                }
            }
            try check(status)
        }
    }

    /// torch.optim.adamw's _single_tensor_adamw, line by line.
    private func loopStep(_ params: [Tensor], _ grads: [Tensor], _ states: [State]) throws {
        for (i, p) in params.enumerated() {
            let g = grads[i], s = states[i]
            try s.step.add_(1)
            let step = try s.step.item()
            try p.mul_(1 - lr * weightDecay)
            try s.expAvg.lerp_(g, 1 - beta1)
            try s.expAvgSq.mul_(beta2)
            try s.expAvgSq.addcmul_(g, g, value: 1 - beta2)
            let biasCorrection1 = 1 - Foundation.pow(beta1, step)
            let biasCorrection2 = 1 - Foundation.pow(beta2, step)
            let stepSize = lr / biasCorrection1
            let denom = try (s.expAvgSq.sqrt() / biasCorrection2.squareRoot()) + eps
            try p.addcdiv_(s.expAvg, denom, value: -stepSize)
        }
    }

    /// Clears the gradients of all parameters.
    public func zeroGrad() {
        for (_, p) in parameters { p.zeroGrad() }
    }

    // MARK: State

    /// Moments and step counts by parameter key: `<key>.exp_avg`, `<key>.exp_avg_sq`, `<key>.step`.
    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (i, (name, _)) in parameters.enumerated() {
            guard let s = state[i] else { continue }
            out[name + ".exp_avg"] = s.expAvg
            out[name + ".exp_avg_sq"] = s.expAvgSq
            out[name + ".step"] = s.step
        }
        return out
    }

    /// Hyper-parameters, for a file's metadata.
    public var hyperparameters: [String: String] {
        ["lr": "\(lr)", "beta1": "\(beta1)", "beta2": "\(beta2)", "eps": "\(eps)", "weight_decay": "\(weightDecay)"]
    }

    /// Restores `stateDict()` output; every key must name a parameter of this optimizer with the right shape.
    public func load(stateDict: [String: Tensor]) throws {
        var byName: [String: Int] = [:]
        for (i, (name, _)) in parameters.enumerated() { byName[name] = i }
        var restored: [Int: State] = [:]
        var problems: [String] = []
        for (i, (name, p)) in parameters.enumerated() {
            let m = stateDict[name + ".exp_avg"], v = stateDict[name + ".exp_avg_sq"], s = stateDict[name + ".step"]
            if m == nil && v == nil && s == nil { continue }
            guard let m, let v, let s else {
                problems.append("\(name): needs exp_avg, exp_avg_sq and step together")
                continue
            }
            guard m.shape == p.shape, v.shape == p.shape, s.count == 1 else {
                problems.append("\(name): moments of shape \(m.shape)/\(v.shape), parameter is \(p.shape)")
                continue
            }
            restored[i] = try withNoGrad {
                State(expAvg: try m.to(p.device, p.dtype).clone(), expAvgSq: try v.to(p.device, p.dtype).clone(),
                      step: try s.reshaped([]).to(p.device, .float32).clone())
            }
        }
        for key in stateDict.keys {
            let base = ["exp_avg_sq", "exp_avg", "step"].compactMap { suffix -> String? in
                key.hasSuffix("." + suffix) ? String(key.dropLast(suffix.count + 1)) : nil
            }.first
            if base == nil || byName[base!] == nil { problems.append("\(key): no such parameter") }
        }
        if !problems.isEmpty {
            throw TorchError("optimizer state does not match the parameters: " + problems.joined(separator: "; "))
        }
        state = restored
    }
}
