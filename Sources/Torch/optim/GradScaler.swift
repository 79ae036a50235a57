/// Dynamic loss scaling for float16 training, with torch.amp.GradScaler's semantics: the loss is multiplied by
/// `scale` before backward so small float16 gradients do not flush to zero; before the optimizer step the gradients
/// are divided by it again. A step whose gradients hold inf or NaN is skipped and the scale halves (backoff); after
/// `growthInterval` good steps in a row it doubles (growth).
public final class GradScaler {
    /// What a checkpoint keeps: the scale and the count of good steps since it last changed.
    public struct State: Codable, Equatable, Sendable {
        public var scale: Double
        public var growthTracker: Int
        enum CodingKeys: String, CodingKey { case scale, growthTracker = "growth_tracker" }
    }

    public var state: State
    public let growthFactor: Double, backoffFactor: Double
    public let growthInterval: Int

    public init(initScale: Double = 65536, growthFactor: Double = 2, backoffFactor: Double = 0.5,
                growthInterval: Int = 2000) {
        state = State(scale: initScale, growthTracker: 0)
        self.growthFactor = growthFactor
        self.backoffFactor = backoffFactor
        self.growthInterval = growthInterval
    }

    public var scale: Double { state.scale }

    /// `loss` × scale, to call backward on.
    public func scaled(_ loss: Tensor) throws -> Tensor { try loss * state.scale }

    /// Divides every gradient by the scale (by its float32 reciprocal, as torch does); returns whether one of them
    /// holds inf or NaN, in which case the optimizer step must be skipped.
    public func unscale(_ parameters: [Tensor]) throws -> Bool {
        let grads = parameters.compactMap(\.grad)
        guard !grads.isEmpty else { return false }
        let inverse = Double(Float(1 / state.scale))
        return try withNoGrad {
            var finite: [Tensor] = []
            for g in grads {
                try g.mul_(inverse)
                finite.append(try g.isFinite().all())
            }
            return try Tensor.stack(finite).all().item() == 0
        }
    }

    /// After each optimizer step (taken or skipped): back off on overflow, grow after a run of good steps.
    public func update(foundInf: Bool) {
        if foundInf {
            state.scale *= backoffFactor
            state.growthTracker = 0
        } else {
            state.growthTracker += 1
            if state.growthTracker == growthInterval {
                state.scale *= growthFactor
                state.growthTracker = 0
            }
        }
    }
}
