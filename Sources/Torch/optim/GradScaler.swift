/// Dynamic loss scaling for float16 training, with torch.amp.GradScaler's semantics: the loss is multiplied by
/// `scale` before backward so small float16 gradients do not flush to zero; before the optimizer step the gradients
/// are divided by it again. A step whose gradients hold inf or NaN is skipped and the scale halves (backoff); after
/// `growthInterval` good steps in a row it doubles (growth).
///
/// Like torch's, the scale, the growth tracker and the overflow flag live on the device and are updated there by
/// libtorch's own kernels (`_amp_foreach_non_finite_check_and_unscale_`, `_amp_update_scale_`): a training step never
/// waits for the GPU to learn whether it overflowed. Only `state` (logs, checkpoints) reads them back.
public final class GradScaler {
    /// What a checkpoint keeps: the scale and the count of good steps since it last changed.
    public struct State: Codable, Equatable, Sendable {
        public var scale: Double
        public var growthTracker: Int
        enum CodingKeys: String, CodingKey { case scale, growthTracker = "growth_tracker" }
    }

    public let growthFactor: Double, backoffFactor: Double
    public let growthInterval: Int
    /// The state until the first scaled loss puts it on a device (and after a restore).
    private var hostState: State
    /// float32 and int32 scalars on the device of the loss, as torch keeps `_scale` and `_growth_tracker`.
    public private(set) var scaleTensor: Tensor?
    private var growthTrackerTensor: Tensor?

    public init(initScale: Double = 65536, growthFactor: Double = 2, backoffFactor: Double = 0.5,
                growthInterval: Int = 2000) {
        hostState = State(scale: initScale, growthTracker: 0)
        self.growthFactor = growthFactor
        self.backoffFactor = backoffFactor
        self.growthInterval = growthInterval
    }

    /// The scale and growth tracker; reading them from the device waits for it (logging and checkpoint steps only).
    public var state: State {
        get throws {
            guard let scaleTensor, let growthTrackerTensor else { return hostState }
            return State(scale: try scaleTensor.item(), growthTracker: Int(try growthTrackerTensor.item()))
        }
    }

    /// Restores a checkpoint's state; the device copies are made again from it.
    public func load(_ state: State) {
        hostState = state
        scaleTensor = nil
        growthTrackerTensor = nil
    }

    public var scale: Double { get throws { try state.scale } }

    private func deviceState(on device: Device) throws -> (scale: Tensor, tracker: Tensor) {
        if let scaleTensor, let growthTrackerTensor, scaleTensor.device == device { return (scaleTensor, growthTrackerTensor) }
        let s = try scaleTensor.map { try $0.to(device) }
            ?? Tensor.full([], hostState.scale, dtype: .float32, device: device)
        let g = try growthTrackerTensor.map { try $0.to(device) }
            ?? Tensor.full([], Double(hostState.growthTracker), dtype: .int32, device: device)
        (scaleTensor, growthTrackerTensor) = (s, g)
        return (s, g)
    }

    /// `loss` × scale, to call backward on (the scale never leaves the device).
    public func scaled(_ loss: Tensor) throws -> Tensor { try loss * deviceState(on: loss.device).scale }

    /// Divides every gradient by the scale (by its float32 reciprocal, as torch does) and returns a float32 scalar on
    /// the gradients' device that is 1 when one of them holds inf or NaN: the optimizer step must then be skipped
    /// (`AdamW.step(foundInf:)` does it on the device) and `update(foundInf:)` backs off.
    public func unscale(_ parameters: [Tensor]) throws -> Tensor {
        let grads = parameters.compactMap(\.grad)
        let device = grads.first?.device ?? scaleTensor?.device ?? .cpu
        let foundInf = try Tensor.zeros([], dtype: .float32, device: device)
        guard !grads.isEmpty else { return foundInf }
        let inverse = try deviceState(on: device).scale.to(.float64).reciprocal().to(.float32)
        for group in Foreach.groups(grads) {
            let members = group.map { grads[$0] }
            guard members[0].device == device else {
                throw TorchError("GradScaler: gradients on \(members[0].device) and \(device); one device per scaler")
            }
            try Foreach.ampUnscale_(members, foundInf: foundInf, inverseScale: inverse)
        }
        return foundInf
    }

    /// After each optimizer step (taken or skipped), on the device: back off when `foundInf` is set, grow after a
    /// run of `growthInterval` good steps.
    public func update(foundInf: Tensor) throws {
        let (scale, tracker) = try deviceState(on: foundInf.device)
        try Foreach.ampUpdateScale_(scale, growthTracker: tracker, foundInf: foundInf, growthFactor: growthFactor,
                                    backoffFactor: backoffFactor, growthInterval: growthInterval)
    }
}
