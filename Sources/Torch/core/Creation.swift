import CTorch

extension Tensor {
    public static func empty(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try withInt64s(shape) { try wrap(ct_empty($0, $1, dtype.rawValue, device.typeCode, device.index)) }
    }
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32, device: Device = .cpu) throws
        -> Tensor
    {
        try withInt64s(shape) { try wrap(ct_full($0, $1, value, dtype.rawValue, device.typeCode, device.index)) }
    }
    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try full(shape, 0, dtype: dtype, device: device)
    }
    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try full(shape, 1, dtype: dtype, device: device)
    }
    /// [start, end) in steps of `step`, like torch.arange.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .int64,
                              device: Device = .cpu) throws -> Tensor {
        try wrap(ct_arange(start, end, step, dtype.rawValue, device.typeCode, device.index))
    }
    public static func linspace(_ start: Double, _ end: Double, steps: Int, dtype: DType = .float32,
                                device: Device = .cpu) throws -> Tensor {
        try wrap(ct_linspace(start, end, Int64(steps), dtype.rawValue, device.typeCode, device.index))
    }
    /// Standard normal samples, from `generator` or the global one.
    public static func randn(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu,
                             generator: Generator? = nil) throws -> Tensor {
        try withInt64s(shape) {
            try wrap(ct_randn($0, $1, dtype.rawValue, device.typeCode, device.index, generator?.handle))
        }
    }
    /// Uniform samples in [0, 1).
    public static func rand(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu,
                            generator: Generator? = nil) throws -> Tensor {
        try withInt64s(shape) {
            try wrap(ct_rand($0, $1, dtype.rawValue, device.typeCode, device.index, generator?.handle))
        }
    }
    /// Integers in [low, high).
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int], dtype: DType = .int64, device: Device = .cpu,
                               generator: Generator? = nil) throws -> Tensor {
        try withInt64s(shape) {
            try wrap(ct_randint(Int64(low), Int64(high), $0, $1, dtype.rawValue, device.typeCode, device.index,
                                generator?.handle))
        }
    }
    /// A random permutation of 0..<n (int64, CPU).
    public static func randperm(_ n: Int, generator: Generator? = nil) throws -> Tensor {
        try wrap(ct_randperm(Int64(n), generator?.handle))
    }

    public func zerosLike() throws -> Tensor { try wrap(ct_full_like(handle, 0)) }
    public func onesLike() throws -> Tensor { try wrap(ct_full_like(handle, 1)) }
    public func fullLike(_ value: Double) throws -> Tensor { try wrap(ct_full_like(handle, value)) }
    public func randnLike(generator: Generator? = nil) throws -> Tensor {
        try Tensor.randn(shape, dtype: dtype, device: device, generator: generator)
    }

    // In-place fills used by initializers; they never record autograd history.
    public func uniform_(_ from: Double, _ to: Double, generator: Generator? = nil) throws {
        try check(ct_uniform_(handle, from, to, generator?.handle))
    }
    public func normal_(mean: Double = 0, std: Double = 1, generator: Generator? = nil) throws {
        try check(ct_normal_(handle, mean, std, generator?.handle))
    }
}
