import Torch

/// A scheduler's tables (ᾱ and the like, built on the CPU) copied once to each device and dtype they are used at:
/// a training step looks timesteps up on the device, and a copy per step would make the host wait for the GPU.
public final class DeviceTables {
    private var copies: [String: Tensor] = [:]

    public init() {}

    /// `table` on `device` as `dtype`, copied the first time it is asked for there.
    public func table(_ table: Tensor, named name: String, on device: Device, _ dtype: DType) throws -> Tensor {
        if table.device == device && table.dtype == dtype { return table }
        let key = "\(name)/\(device)/\(dtype)"
        if let copy = copies[key] { return copy }
        let copy = try table.to(device, dtype)
        copies[key] = copy
        return copy
    }
}
