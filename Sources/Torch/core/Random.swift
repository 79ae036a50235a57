import CTorch

/// Seeds the global CPU generator and every CUDA device's, like torch.manual_seed.
public func manualSeed(_ seed: UInt64) { ct_manual_seed(seed) }

/// An explicit random stream, like torch.Generator: the same seed gives the same numbers.
public final class Generator: @unchecked Sendable {
    let handle: OpaquePointer
    /// Where its numbers are drawn (then moved where they are needed, as diffusers' randn_tensor does).
    public let device: Device

    public init(seed: UInt64, device: Device = .cpu) throws {
        guard let h = ct_generator_new(device.typeCode, device.index, seed) else { throw TorchError.last() }
        handle = h
        self.device = device
    }
    deinit { ct_generator_free(handle) }

    /// The generator's full state (a uint8 tensor), to save in checkpoints.
    public func state() throws -> Tensor { try wrap(ct_rng_get_state(handle)) }
    public func setState(_ state: Tensor) throws { try check(ct_rng_set_state(handle, state.handle)) }

    /// State of the global CPU generator.
    public static func globalState() throws -> Tensor { try wrap(ct_rng_get_state(nil)) }
    public static func setGlobalState(_ state: Tensor) throws { try check(ct_rng_set_state(nil, state.handle)) }

    /// State of CUDA device `index`'s default generator (what `randn(device: .cuda(index))` draws from).
    public static func cudaState(device index: Int) throws -> Tensor { try wrap(ct_cuda_rng_get_state(Int32(index))) }
    public static func setCUDAState(_ state: Tensor, device index: Int) throws {
        try check(ct_cuda_rng_set_state(Int32(index), state.handle))
    }
}
